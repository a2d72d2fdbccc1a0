"""The console answers a Chinese browser in Simplified Chinese, and the switch changes it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import PASSWORD, Pages, shoot
from tests.console.conftest import Plaza

pytestmark = pytest.mark.browser


def test_a_chinese_browser_gets_simplified_chinese_and_can_switch(
    pages: Pages, plaza: Plaza
) -> None:
    factories.staff_user("manager", plaza.site, plaza.other_site, username="zhao.min")
    page = pages.new(locale="zh-CN")
    page.goto("/console/login/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#pems-language")).to_have_value("zh-hans")
    page.fill("#id_username", "zhao.min")
    page.fill("#id_password", PASSWORD)
    shoot(page, "zh-01-login")
    page.click("#login-submit")
    expect(page.get_by_test_id("who")).to_contain_text("zhao.min")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shoot(page, "zh-02-dashboard")

    page.click("#nav-monitor")
    expect(page.get_by_test_id(f"tile-{plaza.arrears.pk}")).to_have_attribute(
        "data-state", "arrears"
    )
    shoot(page, "zh-03-monitor")
    page.get_by_test_id(f"tile-{plaza.opened.pk}").locator("a.tile-link").click()
    expect(page.get_by_test_id("tenant")).to_contain_text("Lucky Noodles")
    shoot(page, "zh-04-room")

    # The language switch (top right) keeps the person on the same page.
    url = page.url
    page.select_option("#pems-language", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.url == url
    expect(page.locator("#nav-monitor")).to_have_text("Monitor")
    expect(page.get_by_test_id("point-state")).to_have_text("Opened")
