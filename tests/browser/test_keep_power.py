"""A manager keeps power on at night from the console, then removes the period again."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from pems.audit.models import AuditEvent
from pems.billing.models import KeepPowerPeriod
from tests import factories
from tests.browser.conftest import Pages, log_in

pytestmark = pytest.mark.browser


def test_a_manager_adds_a_night_period_sees_it_and_removes_it(
    pages: Pages, live_server: object
) -> None:
    site = factories.SiteFactory(name="East Market")  # type: ignore[no-untyped-call]
    factories.staff_user("manager", site, username="zhao.min")
    page = pages.new()
    log_in(page, "zhao.min")

    page.click("#nav-keep-power")
    expect(page.locator("#nav-keep-power")).to_have_attribute("aria-current", "page")
    expect(page.locator("#keep-power-empty")).to_be_visible()

    # First with no kind of day ticked: refused by its field, nothing saved, typing kept.
    pages.problems.expect_refusal("/console/keep-power/")  # a refused period is a 400
    page.fill("#id_start", "22:00")
    page.fill("#id_end", "06:00")
    page.uncheck("#id_on_workdays")
    page.uncheck("#id_on_weekends")
    page.uncheck("#id_on_holidays")
    page.fill("#id_reason", "night market stays lit")
    page.click("#keep-power-submit")
    expect(page.locator("#keep-power-days-errors")).to_contain_text(
        "Tick at least one kind of day."
    )
    expect(page.locator("#id_start")).to_have_value("22:00")
    assert not KeepPowerPeriod.objects.filter(site=site).exists()

    page.check("#id_on_workdays")
    page.click("#keep-power-submit")
    expect(page.locator(".messages")).to_contain_text(
        "Keep-power period 22:00–06:00 added at East Market."
    )
    period = KeepPowerPeriod.objects.get(site=site)
    assert (period.start, period.end) == (dt.time(22), dt.time(6))
    assert (period.on_workdays, period.on_weekends, period.on_holidays) == (True, False, False)
    row = page.locator(f"#keep-power-table tr[data-period='{period.pk}']")
    expect(row).to_contain_text("22:00–06:00")
    expect(row).to_contain_text("crosses midnight")
    expect(row).to_contain_text("workdays")
    expect(row).not_to_contain_text("weekends")
    expect(row).to_contain_text("night market stays lit")
    expect(page.locator("#keep-power-empty")).to_have_count(0)

    # Remove asks first, showing what goes; Cancel leaves it in place.
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("#summary")).to_contain_text("22:00–06:00")
    page.click("#keep-power-remove-cancel")
    expect(page.locator(f"#keep-power-table tr[data-period='{period.pk}']")).to_be_visible()
    assert KeepPowerPeriod.objects.filter(pk=period.pk).exists()

    page.locator(f"#keep-power-remove-{period.pk}").click()
    page.fill("#id_reason", "market closed for good")
    page.click("#keep-power-remove-confirm")
    expect(page.locator(".messages")).to_contain_text(
        "Keep-power period 22:00–06:00 removed at East Market."
    )
    expect(page.locator("#keep-power-empty")).to_be_visible()
    expect(page.locator("#keep-power-table tr[data-period]")).to_have_count(0)
    assert not KeepPowerPeriod.objects.filter(pk=period.pk).exists()
    assert AuditEvent.objects.filter(
        action="delete", object_id=str(period.pk), reason="market closed for good"
    ).exists()
