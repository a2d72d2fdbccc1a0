"""A manager pastes a tariff document, fixes what the page says is wrong, then revises it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pems.billing.models import Tariff, TariffRevision
from tests import factories
from tests.browser.conftest import Pages, log_in

pytestmark = pytest.mark.browser

FLAT = """name = "Shop flat"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"

[[versions]]
id = "2025"
effective_from = 2025-01-01
prices = { flat = 0.85 }
"""

PRICE_RISE = """
[[versions]]
id = "2099"
effective_from = 2099-01-01
prices = { flat = 0.95 }
"""


def test_a_manager_creates_a_tariff_sees_it_listed_and_revises_it(
    pages: Pages, live_server: object
) -> None:
    site = factories.SiteFactory(name="East Market")  # type: ignore[no-untyped-call]
    factories.staff_user("manager", site, username="zhao.min")
    page = pages.new()
    log_in(page, "zhao.min")

    page.click("#nav-tariffs")
    expect(page.locator("#tariffs-table")).to_contain_text("No tariffs yet.")
    page.click("#tariff-new")
    page.fill("#id_name", "Shop flat")
    # First a typo: the page lists the problem by its field and keeps the text.
    pages.problems.expect_refusal("/console/tariffs/new/")  # a refused document is a 400
    page.fill("#id_document", FLAT.replace("0.85", '"0.85 yuan"'))
    page.fill("#id_reason", "East Market opens")
    page.click("#tariff-submit")
    expect(page.locator("#id_document-errors")).to_contain_text("versions[0].prices.flat")
    expect(page.locator("#id_document")).to_have_value(FLAT.replace("0.85", '"0.85 yuan"'))
    assert not Tariff.objects.filter(site=site).exists()

    page.fill("#id_document", FLAT)
    page.click("#tariff-submit")
    expect(page.locator(".messages")).to_contain_text("Tariff Shop flat created.")
    expect(page.locator("#versions-table [data-version='2025']")).to_contain_text("in force")

    page.click("#nav-tariffs")
    row = page.locator("#tariffs-table tbody tr").filter(has_text="Shop flat")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Electricity")
    expect(row).to_contain_text("zhao.min")
    expect(row.locator("[data-state='in-force']")).to_contain_text("2025")

    row.get_by_role("link", name="Shop flat").click()
    expect(page.locator("#id_document")).to_have_value(FLAT)  # prefilled with the current one
    page.fill("#id_document", FLAT + PRICE_RISE)
    page.fill("#id_reason", "price rise announced for 2099")
    page.click("#revise-submit")
    expect(page.locator(".messages")).to_contain_text("Tariff Shop flat revised.")
    expect(page.locator("#versions-table [data-version='2099']")).to_contain_text("scheduled")
    expect(page.locator("#revisions-table tbody tr")).to_have_count(2)
    expect(page.locator("#revisions-table tbody tr").first).to_contain_text(
        "price rise announced for 2099"
    )
    tariff = Tariff.objects.get(site=site, name="Shop flat")
    assert tariff.document == FLAT + PRICE_RISE
    assert TariffRevision.objects.filter(tariff=tariff).count() == 2
