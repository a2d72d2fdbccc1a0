"""A manager checks the installer's sheet, reads each error by row and column, then imports it."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from pems.inventory.models import Meter
from pems.inventory.models.catalogue import sync_catalogue
from pems.siteplan import scale_plan, write_sheet
from tests import factories
from tests.browser.conftest import Pages, log_in, shoot

pytestmark = pytest.mark.browser


def test_a_manager_checks_a_sheet_then_imports_it(
    pages: Pages, live_server: object, tmp_path: Path
) -> None:
    sync_catalogue()
    site = factories.SiteFactory(name="East Market")  # type: ignore[no-untyped-call]
    factories.staff_user("manager", site, username="zhao.min")
    good = tmp_path / "east-market.csv"
    write_sheet(dataclasses.replace(scale_plan(2, 4), site="East Market"), good)
    rows = list(csv.DictReader(io.StringIO(good.read_text("utf-8-sig"))))
    rows[3]["meter_address"] = rows[2]["meter_address"]  # two meters on one address
    rows[5]["gateway_port"] = "99999"
    bad = tmp_path / "east-market-draft.csv"
    with bad.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    page = pages.new()
    log_in(page, "zhao.min")
    page.click("#nav-import")
    expect(page.locator("#id_dry_run")).to_be_checked()  # checking first is the default
    page.select_option("#id_site", label="East Market")
    page.set_input_files("#id_sheet", str(bad))
    page.fill("#id_reason", "East Market, first installation")
    shoot(page, "14-import")
    page.click("#import-submit")
    expect(page.locator("#import-failed")).to_contain_text("nothing was written")
    errors = page.locator("#import-errors tbody tr")
    expect(errors).not_to_have_count(0)
    expect(page.locator("#import-errors")).to_contain_text("gateway_port")
    expect(page.locator("#import-errors")).to_contain_text("meter_address")
    shoot(page, "15-import-errors")
    assert not Meter.objects.filter(gateway__site=site).exists()

    page.click("#import-again")
    page.select_option("#id_site", label="East Market")
    page.set_input_files("#id_sheet", str(good))
    page.uncheck("#id_dry_run")
    page.fill("#id_reason", "East Market, first installation")
    page.click("#import-submit")
    expect(page.locator("#import-ok")).to_have_text("Imported.")
    expect(page.locator("#import-progress progress").last).to_have_attribute("value", "8")
    assert Meter.objects.filter(gateway__site=site).count() == 8

    page.click("#nav-monitor")
    expect(page.locator("#tiles .tile")).to_have_count(8)  # never read yet: offline
    expect(page.locator("[data-count=offline]")).to_have_text("8")
