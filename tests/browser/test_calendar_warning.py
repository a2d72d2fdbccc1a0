"""A manager sees on the dashboard that a tariff has stopped settling, on a phone and a desk.

The holiday library is made to know public holidays up to last year only, so the
shipped TOU example has stopped settling since 1 January of this year, whatever
today's date and the installed chinesecalendar.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pems import examples
from pems.billing import calendar_horizon
from pems.billing.tariffs import assign_tariff, create_tariff
from tests import factories
from tests.browser.conftest import Pages, log_in, shoot

pytestmark = pytest.mark.browser

TOU = (Path(examples.__file__).parent / "tariffs" / "tou.toml").read_text("utf-8")
PHONE = {"width": 360, "height": 740}
DESK = {"width": 1280, "height": 860}


def fits_across(page: Page, selector: str) -> bool:
    """The element lies within the window's width: nothing to scroll sideways for."""
    return bool(
        page.evaluate(
            """(selector) => {
                const box = document.querySelector(selector).getBoundingClientRect();
                return box.left >= 0 && box.right <= document.documentElement.clientWidth;
            }""",
            selector,
        )
    )


@pytest.mark.parametrize("viewport", [PHONE, DESK], ids=["phone", "desk"])
def test_the_banner_names_the_tariff_and_leads_to_it(
    pages: Pages, live_server: object, monkeypatch: pytest.MonkeyPatch, viewport
) -> None:
    this_year = dt.datetime.now(dt.UTC).year
    monkeypatch.setattr(calendar_horizon, "last_known_year", lambda: this_year - 1)
    site = factories.SiteFactory(name="East Market")  # type: ignore[no-untyped-call]
    tariff = create_tariff(site, "Plaza TOU", TOU, actor="setup")
    for _ in range(3):
        account = factories.AccountFactory(tenant__site=site)  # type: ignore[no-untyped-call]
        assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="setup")
    factories.staff_user("manager", site, username="zhao.min")
    page = pages.new()
    page.set_viewport_size(viewport)
    log_in(page, "zhao.min")

    banner = page.locator("#calendar-warning")
    expect(banner).to_be_visible()
    expect(banner.locator("h2")).to_have_text(
        f"Tariffs that need the public holidays of {this_year}"
    )
    item = banner.locator(f"li[data-tariff='{tariff.pk}']")
    expect(item).to_contain_text(
        f"East Market: settlement has stopped since {this_year}-01-01 for 3 open accounts"
    )
    expect(banner).to_contain_text("fallback_to_weekends = true")
    assert fits_across(page, "#calendar-warning")
    if viewport == DESK:
        shoot(page, "17-calendar-warning", element="#calendar-warning")

    item.get_by_role("link", name="Plaza TOU").click()
    expect(page.locator("#tariff-name")).to_have_text("Plaza TOU")
    expect(page.locator("#nav-tariffs")).to_have_attribute("aria-current", "page")


def test_a_cashier_sees_no_banner(
    pages: Pages, live_server: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    this_year = dt.datetime.now(dt.UTC).year
    monkeypatch.setattr(calendar_horizon, "last_known_year", lambda: this_year - 1)
    site = factories.SiteFactory(name="East Market")  # type: ignore[no-untyped-call]
    tariff = create_tariff(site, "Plaza TOU", TOU, actor="setup")
    account = factories.AccountFactory(tenant__site=site)  # type: ignore[no-untyped-call]
    assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="setup")
    factories.staff_user("cashier", site, username="li.na")
    page = pages.new()
    log_in(page, "li.na")
    expect(page.locator("#today-table")).to_be_visible()
    expect(page.locator("#calendar-warning")).to_have_count(0)
