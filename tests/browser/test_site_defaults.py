"""A manager changes a site's default thresholds from the console, after one refusal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from pems.audit.models import AuditEvent
from pems.inventory.models import Site
from tests import factories
from tests.browser.conftest import Pages, log_in, shoot

pytestmark = pytest.mark.browser


def defaults(site: Site) -> tuple[Decimal, ...]:
    site.refresh_from_db()
    return (
        site.default_alarm1_threshold,
        site.default_alarm2_threshold,
        site.default_overdraft_limit,
        site.default_reconnect_minimum,
    )


def test_a_manager_changes_the_defaults_after_fixing_alarm_1(
    pages: Pages, live_server: object
) -> None:
    site = factories.SiteFactory(name="East Market")  # type: ignore[no-untyped-call]
    factories.staff_user("manager", site, username="zhao.min")
    tenant = factories.TenantFactory(site=site, name="Tea House")  # type: ignore[no-untyped-call]
    factories.AccountFactory(tenant=tenant)  # type: ignore[no-untyped-call]
    page = pages.new()
    log_in(page, "zhao.min")

    page.click("#nav-site-defaults")
    expect(page.locator("#nav-site-defaults")).to_have_attribute("aria-current", "page")
    expect(page.locator("h1")).to_contain_text("East Market")
    expect(page.locator("#id_default_alarm1_threshold")).to_have_value("50.00")
    expect(page.locator("#id_default_alarm2_threshold")).to_have_value("20.00")
    expect(page.locator("#id_default_overdraft_limit")).to_have_value("0.00")
    expect(page.locator("#id_default_reconnect_minimum")).to_have_value("0.00")
    alarm1 = page.locator("#site-defaults-table tr[data-default='default_alarm1_threshold']")
    expect(alarm1.locator("[data-value]")).to_have_text("50.00 CNY")
    expect(alarm1.locator("[data-accounts]")).to_have_text("1")
    expect(page.locator("#site-defaults-open")).to_contain_text("1 open account at this site")

    # Alarm 1 below alarm 2: refused next to alarm 1, nothing saved, the typing kept.
    pages.problems.expect_refusal("/console/site-defaults/")  # a refused form is a 400
    page.fill("#id_default_alarm1_threshold", "25.00")
    page.fill("#id_default_alarm2_threshold", "30.00")
    page.fill("#id_default_overdraft_limit", "10.00")
    page.fill("#id_reason", "warn tenants earlier")
    page.click("#site-defaults-submit")
    expect(page.locator("#id_default_alarm1_threshold-errors")).to_contain_text(
        "Alarm 1 must be above alarm 2"
    )
    expect(page.locator("#id_default_alarm2_threshold")).to_have_value("30.00")
    expect(alarm1.locator("[data-value]")).to_have_text("50.00 CNY")  # still in force
    assert defaults(site) == (Decimal("50.00"), Decimal("20.00"), Decimal("0.00"), Decimal("0"))
    assert not AuditEvent.objects.filter(action="site.thresholds").exists()

    page.fill("#id_default_alarm1_threshold", "80.00")
    page.click("#site-defaults-submit")
    expect(page.locator(".messages")).to_contain_text(
        "Default thresholds saved at East Market; 0 meter-side meters were sent the new thresholds."
    )
    expect(page.locator("#id_default_alarm1_threshold")).to_have_value("80.00")
    expect(page.locator("#id_default_alarm2_threshold")).to_have_value("30.00")
    expect(page.locator("#id_default_overdraft_limit")).to_have_value("10.00")
    expect(page.locator("#id_reason")).to_have_value("")  # a new form: a new reason
    expect(alarm1.locator("[data-value]")).to_have_text("80.00 CNY")
    shoot(page, "16-site-defaults", full_page=True)
    assert defaults(site) == (Decimal("80.00"), Decimal("30.00"), Decimal("10.00"), Decimal("0"))
    event = AuditEvent.objects.get(action="site.thresholds")
    assert event.reason == "warn tenants earlier"
    assert event.actor is not None
    assert event.actor.username == "zhao.min"
