"""The sheet upload page: check, import with progress, errors by row and column, scope.

The import runs in a worker thread with its own database connection, so these
tests commit their data (``transaction=True``).
"""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from pems.audit.models import AuditEvent
from pems.inventory.models import Meter
from pems.inventory.models.catalogue import sync_catalogue
from pems.siteplan import plaza, write_sheet
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plaza_sheet(tmp_path) -> bytes:
    path = tmp_path / "plaza.csv"
    write_sheet(plaza(), path)
    return path.read_bytes()


@pytest.fixture
def manager(client):
    sync_catalogue()
    site = factories.SiteFactory(name="Plaza")
    user = factories.staff_user("manager", site)
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client, site


def upload(client, site, body: bytes, name: str = "plaza.csv", dry_run: bool = False):
    data = {
        "site": site.pk,
        "sheet": SimpleUploadedFile(name, body),
        "reason": "first installation",
    }
    if dry_run:
        data["dry_run"] = "on"
    response = client.post(reverse("console:import"), data)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_check_then_import_the_plaza_with_progress(manager, plaza_sheet):
    client, site = manager
    checked = upload(client, site, plaza_sheet, dry_run=True)
    assert 'id="import-ok"' in checked
    assert "nothing was written" in checked
    assert not Meter.objects.exists()
    page = upload(client, site, plaza_sheet)
    assert "<progress" in page
    assert "242 of 242 rows" in page
    assert Meter.objects.filter(gateway__site=site).count() == 242
    assert AuditEvent.objects.filter(reason="first installation").exists()
    again = upload(client, site, plaza_sheet)
    assert "Nothing to change" in again


def test_a_bad_sheet_lists_rows_and_columns_and_writes_nothing(manager, plaza_sheet):
    client, site = manager
    rows = list(csv.DictReader(io.StringIO(plaza_sheet.decode("utf-8-sig"))))
    rows[3]["meter_address"] = rows[2]["meter_address"]  # two meters on one address
    rows[5]["gateway_port"] = "99999"
    page = upload(client, site, csv_bytes(rows))
    assert 'id="import-failed"' in page
    assert "<td>meter_address</td>" in page
    assert "<td>gateway_port</td>" in page
    assert not Meter.objects.exists()


def test_the_form_refuses_other_files_and_other_sites(manager, client):
    client, site = manager
    other = factories.SiteFactory(name="Elsewhere")
    bad = client.post(
        reverse("console:import"),
        {"site": site.pk, "sheet": SimpleUploadedFile("notes.txt", b"x"), "reason": "r"},
    )
    assert bad.status_code == 400
    assert "sheet" in bad.context["form"].errors
    foreign = client.post(
        reverse("console:import"),
        {"site": other.pk, "sheet": SimpleUploadedFile("a.csv", b"x"), "reason": "r"},
    )
    assert "site" in foreign.context["form"].errors


def test_only_people_who_edit_inventory_may_import(client, db):
    site = factories.SiteFactory(name="Plaza")
    client.force_login(factories.staff_user("cashier", site))
    assert client.get(reverse("console:import")).status_code == 403


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "the sheet describes site Plaza"), ("zh-hans", "Plaza")],
)
def test_the_imports_messages_are_in_the_pages_language(manager, plaza_sheet, language, expected):
    """The import runs in a worker thread, which must speak the person's language too."""
    client, _ = manager
    elsewhere = factories.SiteFactory(name="Elsewhere")
    client.force_login(factories.staff_user("manager", elsewhere))
    client.cookies["django_language"] = language
    page = upload(client, elsewhere, plaza_sheet, dry_run=True)
    with translation.override(language):
        message = translation.gettext(
            "the sheet describes site %(sheet)s, not %(site)s: "
            "check the sheet or the site you import into"
        ) % {"sheet": "Plaza", "site": "Elsewhere"}
    assert expected in message
    assert message in page.replace("&quot;", '"').replace("&#x27;", "'")


#: (row, column, Simplified Chinese, English) of the problems the test below puts in a sheet.
PROBLEMS = [
    (
        5,
        "meter_address",
        "表地址 3 在网关“GW-S1”上已被第 4 行使用",
        "address 3 is already used on gateway 'GW-S1' by row 4",
    ),
    (7, "gateway_port", "99999 超出范围 1–65535", "99999 is outside 1–65535"),
    (8, "gateway_host", "“1 号<房>”包含空格", "'1 号<房>' contains spaces"),
    (9, "area", "不能为空", "is required"),
]


@pytest.mark.parametrize(
    ("language", "index", "elsewhere"), [("zh-hans", 2, "en"), ("en", 3, "zh-hans")]
)
def test_a_bad_sheets_problems_are_in_the_persons_language(
    manager, plaza_sheet, language, index, elsewhere
):
    """Read while the thread speaks another language: the page keeps the person's."""
    client, site = manager
    rows = list(csv.DictReader(io.StringIO(plaza_sheet.decode("utf-8-sig"))))
    rows[3]["meter_address"] = rows[2]["meter_address"]
    rows[5]["gateway_port"] = "99999"
    rows[6]["gateway_host"] = "1 号<房>"  # a value is shown as it is (escaped, not altered)
    rows[7]["area"] = ""
    client.cookies["django_language"] = language
    response = client.post(
        reverse("console:import"),
        {"site": site.pk, "sheet": SimpleUploadedFile("bad.csv", csv_bytes(rows)), "reason": "r"},
    )
    with translation.override(elsewhere):
        page = b"".join(response.streaming_content).decode()
    shown = re.findall(r'<tr><td class="num">(\d+)</td><td>(\w+)</td><td>(.*?)</td></tr>', page)
    assert [(int(row), column, html.unescape(text)) for row, column, text in shown] == [
        (p[0], p[1], p[index]) for p in PROBLEMS
    ]
    assert ("发现 4 个问题" in page) is (language == "zh-hans")


def test_a_person_with_one_site_finds_it_chosen(manager):
    client, site = manager
    page = client.get(reverse("console:import")).content.decode()
    assert f'<option value="{site.pk}" selected>' in page
    assert "---------" not in page
