"""`pems import` and the importer behind it: real sheets (CSV and XLSX), the real database.

Sheets are written by the site-plan code itself (the same writer `pems simulate
--export-sheet` uses), then edited row by row to build the bad cases.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from pems.audit.models import AuditEvent
from pems.inventory.choices import FeeControl, LocationKind, Phases, Utility
from pems.inventory.importer import ImportReport, import_plan, import_sheet
from pems.inventory.models import Gateway, Location, Meter, MeteringPoint, Site
from pems.inventory.models.catalogue import sync_catalogue
from pems.siteplan import COLUMNS, mixed, plaza, write_sheet
from pems.siteplan.sheet import plan_rows
from tests.factories import (
    AccountMeteringPointFactory,
    GatewayFactory,
    MeterFactory,
    SiteFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def catalogue(db):
    sync_catalogue()


@pytest.fixture
def plaza_site(db) -> Site:
    return SiteFactory(name="Plaza")


@pytest.fixture
def mixed_site(db) -> Site:
    return SiteFactory(name="Mixed")


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.DictWriter(stream, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def inventory_counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (Location, Gateway, Meter, MeteringPoint, AuditEvent)
    )


def issues(report: ImportReport) -> set[tuple[int, str | None]]:
    return {(issue.row, issue.column) for issue in report.errors}


# -- the plaza, both file formats ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_plaza_sheet_imports_242_meters_with_rooms_and_numbers(tmp_path, plaza_site, suffix):
    sheet = tmp_path / f"plaza{suffix}"
    write_sheet(plaza(), sheet)
    progress: list[tuple[int, int]] = []

    report = import_sheet(sheet, plaza_site, "installer", lambda d, t: progress.append((d, t)))

    assert report.ok, report.errors
    assert report.changed
    assert report.rows == 242
    assert Meter.objects.filter(gateway__site=plaza_site).count() == 242
    assert MeteringPoint.objects.filter(meter__gateway__site=plaza_site).count() == 242
    assert Gateway.objects.filter(site=plaza_site).count() == 9
    assert progress[0] == (0, 242)
    assert progress[-1] == (242, 242)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    # Shaft 1, address 5: floor 2, second slot → room 202, meter 2401 0000 1005.
    point = MeteringPoint.objects.select_related("meter__gateway", "room__parent__parent").get(
        meter__number="240100001005"
    )
    assert point.meter.gateway.name == "GW-S1"
    assert (point.meter.gateway.host, point.meter.gateway.port) == ("127.0.0.1", 15020)
    assert point.meter.address == 5
    assert point.room.name == "202"
    assert point.room.kind == LocationKind.ROOM
    assert point.room.parent.name == "2F"
    assert point.room.parent.parent.name == "Shaft 1"
    assert point.room.parent.parent.kind == LocationKind.SHAFT
    assert point.meter.location == point.room.parent
    assert point.meter.gateway.location == point.room.parent.parent
    assert (point.phases, point.utility, point.fee_control) == (
        Phases.THREE,
        Utility.ELECTRICITY,
        FeeControl.METER_SIDE,
    )
    assert point.number == ""  # a one-circuit meter: the point is known by the meter's number
    garage = MeteringPoint.objects.get(meter__number="240100090026")
    assert garage.room.name == "B1-26"
    assert garage.room.parent.parent.kind == LocationKind.GARAGE


def test_plaza_import_is_audited_once_per_object_and_once_for_the_import(tmp_path, plaza_site):
    write_sheet(plaza(), tmp_path / "plaza.csv")
    report = import_sheet(tmp_path / "plaza.csv", plaza_site, "installer", reason="go-live")

    summary = AuditEvent.objects.get(action="inventory.import")
    assert summary.object_id == str(plaza_site.pk)
    assert summary.reason == "go-live"
    assert summary.actor_label == "installer"
    assert summary.changes["source"] == "plaza.csv"
    assert summary.changes["counts"]["meter"] == {"created": 242, "updated": 0, "unchanged": 0}
    created = AuditEvent.objects.filter(action="create")
    assert created.count() == sum(t.created for t in report.tallies.values())
    assert created.filter(object_type="inventory.meter").count() == 242
    meter = Meter.objects.get(number="240100001005")
    event = created.get(object_type="inventory.meter", object_id=str(meter.pk))
    assert event.changes["number"] == [None, "240100001005"]


def test_boxes_become_one_meter_whose_circuits_keep_their_own_numbers(mixed_site):
    report = import_plan(mixed(), mixed_site, "installer")

    assert report.ok, report.errors
    box = Meter.objects.get(number="240200001001")
    assert (box.model.code, box.address, box.address_count) == ("ADF300", 1, 12)
    circuits = list(box.metering_points.order_by("circuit"))
    assert [p.circuit for p in circuits] == list(range(1, 13))
    assert [p.number for p in circuits] == [f"2402000010{n:02d}" for n in range(1, 13)]
    assert circuits[4].bus_address == 5
    second = Meter.objects.get(number="240200001013")
    assert (second.address, second.address_count) == (13, 10)
    phases = list(second.metering_points.order_by("circuit").values_list("phases", flat=True))
    assert phases == [3, 3, 3, 3, 1, 1, 1, 1, 1, 1]
    water = MeteringPoint.objects.get(meter__number="240200000101")
    assert (water.utility, water.fee_control) == (Utility.WATER, FeeControl.SERVER_SIDE)
    dlt = Meter.objects.get(number="123456781011")
    assert (dlt.address, dlt.gateway.protocol, dlt.gateway.baud, dlt.gateway.parity) == (
        123456781011,
        "dlt645-over-tcp",
        2400,
        "E",
    )
    assert Meter.objects.filter(gateway__site=mixed_site).count() == 16
    assert MeteringPoint.objects.filter(meter__gateway__site=mixed_site).count() == 36


def test_an_uploaded_file_imports_like_a_path(tmp_path, plaza_site):
    write_sheet(plaza(), tmp_path / "plaza.xlsx")
    upload = SimpleUploadedFile("Plaza sheet.XLSX", (tmp_path / "plaza.xlsx").read_bytes())

    report = import_sheet(upload, plaza_site, "installer")

    assert report.ok, report.errors
    assert report.source == "Plaza sheet.XLSX"
    assert Meter.objects.filter(gateway__site=plaza_site).count() == 242
    assert AuditEvent.objects.get(action="inventory.import").changes["source"] == report.source


# -- bad sheets: every problem, with its row and column; nothing written --------------------


def test_bad_rows_are_each_reported_with_row_and_column_and_nothing_is_created(
    tmp_path, mixed_site
):
    rows = list(plan_rows(mixed()))
    rows[2]["meter_address"] = rows[1]["meter_address"]  # duplicate address on GW-A (row 4)
    rows[3]["model"] = "XYZ-9"  # unknown model (row 5)
    rows[4]["gateway_port"] = "70000"  # bad port (row 6)
    box = next(i for i, r in enumerate(rows) if r["box"] == "ADF-1" and r["circuit"] == "12")
    rows[box]["circuit"] = "37"  # a 37th circuit
    before = inventory_counts()

    report = import_sheet(write_rows(tmp_path / "bad.csv", rows), mixed_site, "installer")

    assert not report.ok
    assert {(4, "meter_address"), (5, "model"), (6, "gateway_port"), (box + 2, "circuit")} <= (
        issues(report)
    )
    messages = {(i.row, i.column): i.message for i in report.errors}
    assert "already used on gateway 'GW-A'" in messages[(4, "meter_address")]
    assert "'XYZ-9' is not one of" in messages[(5, "model")]
    assert "70000 is outside 1–65535" in messages[(6, "gateway_port")]
    assert "37 is outside 1–36" in messages[(box + 2, "circuit")]
    assert inventory_counts() == before


def test_a_model_rule_is_reported_on_the_sheet_column_and_row_it_came_from(tmp_path, mixed_site):
    # Already installed on GW-A at address 3 (added by hand before the import).
    gateway = GatewayFactory(site=mixed_site, name="GW-A", host="127.0.0.1", port=15020)
    MeterFactory(gateway=gateway, address=3, number="555")
    rows = list(plan_rows(mixed()))
    for row in rows[:10]:  # GW-A's rows
        row["baud"] = "57600"  # the sheet allows it; a Gateway does not
    before = inventory_counts()

    report = import_sheet(write_rows(tmp_path / "clash.csv", rows), mixed_site, "installer")

    assert not report.ok
    messages = {(i.row, i.column): i.message for i in report.errors}
    assert "57600 is not a valid choice" in messages[(2, "baud")]
    assert inventory_counts() == before
    rows = list(plan_rows(mixed()))
    report = import_sheet(write_rows(tmp_path / "clash2.csv", rows), mixed_site, "installer")
    messages = {(i.row, i.column): i.message for i in report.errors}
    assert messages == {
        (4, "meter_address"): "Another installed meter on this gateway has this address."
    }
    assert inventory_counts() == before


def test_a_meter_installed_on_another_site_is_refused(mixed_site):
    elsewhere = GatewayFactory(site=SiteFactory(name="Elsewhere"))
    MeterFactory(gateway=elsewhere, number="240200000003")
    before = inventory_counts()

    report = import_plan(mixed(), mixed_site, "installer")

    assert [(i.row, i.column) for i in report.errors] == [(4, "meter_number")]
    assert "installed on site Elsewhere" in report.errors[0].message
    assert inventory_counts() == before


def test_a_gateway_endpoint_used_by_another_site_is_refused_on_the_port(plaza_site):
    GatewayFactory(site=SiteFactory(name="Elsewhere"), host="127.0.0.1", port=15023)

    report = import_plan(plaza(), plaza_site, "installer")

    assert issues(report) == {(83, "gateway_port")}  # GW-S4's first row: 3 × 27 + 2
    assert "Another gateway already uses this host and port." in report.errors[0].message
    assert not Meter.objects.exists()


def test_a_sheet_for_another_site_is_refused(db):
    other = SiteFactory(name="Riverside")

    report = import_plan(plaza(), other, "installer")

    assert issues(report) == {(2, "site")}
    assert "describes site Plaza, not Riverside" in report.errors[0].message
    assert not Location.objects.exists()


def test_a_csv_saved_in_gbk_is_one_clear_problem(tmp_path, plaza_site):
    rows = list(plan_rows(plaza()))
    rows[0]["area"] = "一号竖井"
    (tmp_path / "gbk.csv").write_bytes(
        (",".join(COLUMNS) + "\n" + ",".join(rows[0][c] for c in COLUMNS) + "\n").encode("gbk")
    )

    report = import_sheet(tmp_path / "gbk.csv", plaza_site, "installer")

    assert [(i.row, i.column) for i in report.errors] == [(0, None)]
    assert "gbk.csv cannot be read" in report.errors[0].message
    assert "CSV UTF-8" in report.errors[0].message
    assert not Location.objects.exists()


def test_an_unreadable_file_is_one_clear_problem(tmp_path, plaza_site):
    bogus = tmp_path / "sheet.xlsx"
    bogus.write_bytes(b"not a workbook")

    report = import_sheet(bogus, plaza_site, "installer")

    assert [(i.row, i.column) for i in report.errors] == [(0, None)]
    assert "not a readable .xlsx file" in report.errors[0].message


# -- re-import, changes, dry run ------------------------------------------------------------


def test_reimporting_the_same_sheet_changes_nothing_and_says_so(tmp_path, plaza_site):
    write_sheet(plaza(), tmp_path / "plaza.xlsx")
    import_sheet(tmp_path / "plaza.xlsx", plaza_site, "installer")
    stamps = sorted(Meter.objects.values_list("updated_at", flat=True))
    before = inventory_counts()

    report = import_sheet(tmp_path / "plaza.xlsx", plaza_site, "installer")

    assert report.ok
    assert not report.changed
    assert report.tallies["meter"].unchanged == 242
    assert report.tallies["location"].unchanged == 324  # 9 areas, 73 floors, 242 rooms
    assert inventory_counts() == before
    assert sorted(Meter.objects.values_list("updated_at", flat=True)) == stamps


def test_a_changed_row_updates_its_objects_with_before_and_after_and_deletes_nothing(
    tmp_path, mixed_site
):
    rows = list(plan_rows(mixed()))
    import_sheet(write_rows(tmp_path / "v1.csv", rows), mixed_site, "installer")
    old_room = MeteringPoint.objects.get(meter__number="240200000002").room
    for row in rows:
        if row["gateway"] == "GW-A":
            row["gateway_port"] = "16020"
    rows[1]["room"] = "199"
    rows[1]["ct_ratio"] = "40"

    report = import_sheet(write_rows(tmp_path / "v2.csv", rows), mixed_site, "installer")

    assert report.ok, report.errors
    assert (report.tallies["gateway"].updated, report.tallies["gateway"].unchanged) == (1, 2)
    assert report.tallies["meter"].updated == 1
    assert report.tallies["metering point"].updated == 1
    assert report.tallies["location"].created == 1
    point = MeteringPoint.objects.select_related("meter__gateway").get(meter__number="240200000002")
    assert point.room.name == "199"
    assert point.meter.ct_ratio == 40
    assert point.meter.gateway.port == 16020
    assert Location.objects.filter(pk=old_room.pk).exists()
    change = AuditEvent.objects.get(
        action="change", object_type="inventory.gateway", object_id=str(point.meter.gateway.pk)
    )
    assert change.changes["port"] == [15020, 16020]
    meter_change = AuditEvent.objects.get(action="change", object_type="inventory.meter")
    assert meter_change.changes["ct_ratio"] == [1, 40]


def test_fee_control_of_a_point_billed_to_an_open_account_cannot_change_by_import(
    tmp_path, mixed_site
):
    rows = list(plan_rows(mixed()))
    import_sheet(write_rows(tmp_path / "v1.csv", rows), mixed_site, "installer")
    point = MeteringPoint.objects.get(meter__number="240200000001")
    AccountMeteringPointFactory(
        account__tenant=TenantFactory(site=mixed_site), metering_point=point
    )
    rows[0]["fee_control"] = "server-side"
    before = inventory_counts()

    report = import_sheet(write_rows(tmp_path / "v2.csv", rows), mixed_site, "installer")

    assert issues(report) == {(2, "fee_control")}
    assert "billed to an open account" in report.errors[0].message
    assert inventory_counts() == before
    point.refresh_from_db()
    assert point.fee_control == FeeControl.METER_SIDE


def test_a_box_losing_circuits_is_refused_since_an_import_never_deletes(tmp_path, mixed_site):
    rows = list(plan_rows(mixed()))
    import_sheet(write_rows(tmp_path / "v1.csv", rows), mixed_site, "installer")
    last = next(i for i, r in enumerate(rows) if r["box"] == "ADF-2" and r["circuit"] == "10")

    report = import_sheet(
        write_rows(tmp_path / "v2.csv", rows[:last] + rows[last + 1 :]), mixed_site, "installer"
    )

    assert issues(report) == {(last + 1, "circuit")}
    assert "never deletes" in report.errors[0].message
    assert MeteringPoint.objects.filter(meter__number="240200001013").count() == 10


def test_a_dry_run_counts_but_writes_nothing(tmp_path, plaza_site):
    before = inventory_counts()

    report = import_plan(plaza(), plaza_site, "installer", dry_run=True)

    assert report.ok
    assert report.changed
    assert report.dry_run
    assert report.tallies["meter"].created == 242
    assert inventory_counts() == before


def test_money_columns_are_not_inventory_and_changing_them_changes_nothing(tmp_path, plaza_site):
    rows = list(plan_rows(plaza()))
    import_sheet(write_rows(tmp_path / "v1.csv", rows), plaza_site, "installer")
    for row in rows:
        row["initial_credit"] = str(Decimal(row["initial_credit"]) + 1)
        row["price_flat"] = "9.9900"

    report = import_sheet(write_rows(tmp_path / "v2.csv", rows), plaza_site, "installer")

    assert report.ok
    assert not report.changed


# -- the command ---------------------------------------------------------------------------


def test_command_prints_a_summary_then_says_a_second_run_changes_nothing(tmp_path, plaza_site):
    write_sheet(plaza(), tmp_path / "plaza.csv")
    out, err = io.StringIO(), io.StringIO()

    call_command("import", str(tmp_path / "plaza.csv"), site="Plaza", stdout=out, stderr=err)

    lines = out.getvalue().splitlines()
    assert lines[0] == "Imported plaza.csv into site 'Plaza' (242 rows):"
    assert lines[4].split() == ["meter", "242", "0", "0"]
    again = io.StringIO()
    call_command("import", str(tmp_path / "plaza.csv"), site="Plaza", stdout=again, stderr=err)
    assert again.getvalue().startswith("Nothing to change: site 'Plaza' already matches")


def test_command_lists_every_problem_and_fails_changing_nothing(tmp_path, mixed_site):
    rows = list(plan_rows(mixed()))
    rows[3]["model"] = "XYZ-9"
    rows[4]["gateway_port"] = "70000"
    err = io.StringIO()
    before = inventory_counts()

    with pytest.raises(CommandError, match="2 problem"):
        call_command(
            "import", str(write_rows(tmp_path / "bad.csv", rows)), site="Mixed", stderr=err
        )

    lines = err.getvalue().splitlines()
    assert lines[0].startswith("row 5, column 'model': 'XYZ-9' is not one of")
    assert lines[1] == "row 6, column 'gateway_port': 70000 is outside 1–65535"
    assert inventory_counts() == before


def test_command_creates_the_site_only_when_asked_and_a_dry_run_keeps_nothing(tmp_path, db):
    write_sheet(plaza(), tmp_path / "plaza.csv")
    with pytest.raises(CommandError, match="add --create-site"):
        call_command("import", str(tmp_path / "plaza.csv"), site="Plaza")

    out = io.StringIO()
    call_command(
        "import",
        str(tmp_path / "plaza.csv"),
        site="Plaza",
        create_site=True,
        dry_run=True,
        stdout=out,
    )

    assert "Would import plaza.csv" in out.getvalue()
    assert "Dry run: nothing was written." in out.getvalue()
    assert not Site.objects.filter(name="Plaza").exists()
    call_command("import", str(tmp_path / "plaza.csv"), site="Plaza", create_site=True)
    site = Site.objects.get(name="Plaza")
    assert Meter.objects.filter(gateway__site=site).count() == 242
    assert AuditEvent.objects.filter(action="create", object_type="inventory.site").count() == 1


def _database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    return (
        f"postgresql://{settings['USER']}{password}@{settings['HOST']}:{settings['PORT']}"
        f"/{settings['NAME']}"
    )


@pytest.mark.django_db(transaction=True)
def test_the_pems_command_exits_zero_on_success_and_one_on_a_bad_sheet(tmp_path):
    sync_catalogue()
    SiteFactory(name="Mixed")
    env = {**os.environ, "PEMS_DATABASE_URL": _database_url(), "PEMS_LANGUAGE": "en"}
    write_sheet(mixed(), tmp_path / "mixed.xlsx")
    rows = list(plan_rows(mixed()))
    rows[0]["meter_address"] = "300"
    write_rows(tmp_path / "bad.csv", rows)

    def pems(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pems.cli", "import", *args, "--site", "Mixed"]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    bad = pems(str(tmp_path / "bad.csv"))
    assert bad.returncode == 1
    assert "row 2, column 'meter_address': 300 is outside 1–247" in bad.stderr
    assert "1 problem(s) in bad.csv: nothing was imported." in bad.stderr
    assert not Meter.objects.exists()
    good = pems(str(tmp_path / "mixed.xlsx"))
    assert good.returncode == 0, good.stderr
    assert "Imported mixed.xlsx into site 'Mixed' (36 rows):" in good.stdout
    assert Meter.objects.count() == 16
    missing = pems(str(tmp_path / "nowhere.csv"))
    assert missing.returncode == 1
    assert "nowhere.csv: no such file" in missing.stderr
