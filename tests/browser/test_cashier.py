"""A cashier finds a room in arrears, sells credit, prints the receipt, sees the power return."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from pems.control.models import Command, CommandKind, CommandStatus
from tests import factories
from tests.browser.conftest import LIVE_WAIT_MS, PASSWORD, Field, Pages, command_row, shoot

pytestmark = pytest.mark.browser


def test_a_cashier_sells_to_a_room_in_arrears_and_watches_its_meter_close(
    pages: Pages, live_field: Field
) -> None:
    factories.staff_user("cashier", live_field.site, username="li.na")
    room = live_field.points["A102"]
    tile = f"tile-{room.pk}"

    # The wall display: the monitor grid, left open; it refreshes itself.
    wall = pages.new()
    wall.goto("/console/login/")
    wall.fill("#id_username", "li.na")
    wall.fill("#id_password", PASSWORD)
    shoot(wall, "01-login")
    wall.click("#login-submit")
    expect(wall.get_by_test_id("who")).to_contain_text("li.na · Cashier")
    for state, count in [("offline", 1), ("tripped", 1), ("arrears", 1), ("opened", 2)]:
        expect(wall.get_by_test_id(f"count-{state}").locator("b")).to_have_text(str(count))
    shoot(wall, "02-dashboard")
    wall.click("#nav-monitor")
    expect(wall.locator("#tiles .tile")).to_have_count(len(live_field.points))
    expect(wall.get_by_test_id(tile)).to_have_attribute("data-state", "tripped")
    expect(wall.get_by_test_id(tile)).to_contain_text("Empty Pockets")
    shoot(wall, "03-monitor")

    # At the counter: the tenant of A102 has no power and wants to pay.
    counter = pages.another_tab(wall)
    counter.goto("/console/monitor/")
    counter.fill("#filter-q", "A102")
    counter.press("#filter-q", "Enter")
    expect(counter.locator("#tiles .tile")).to_have_count(1)
    found = counter.get_by_test_id(tile)
    expect(found).to_contain_text("Tripped")
    found.locator("a.tile-link").click()

    expect(counter.get_by_test_id("point-state")).to_have_text("Tripped")
    expect(counter.get_by_test_id("tenant")).to_contain_text("Empty Pockets")
    expect(counter.get_by_test_id("credit")).to_have_text("0.00")
    expect(counter.locator("[data-live=relay_closed]")).to_have_text("open (off)")
    shoot(counter, "04-room")

    counter.click("#action-sell")
    counter.fill("#id_amount", "300")
    expect(counter.locator("#id_channel")).to_have_value("cash")
    shoot(counter, "05-sell")
    counter.click("#action-next")
    summary = counter.locator("#summary")
    for label, value in [
        ("Amount paid", "300.00 CNY"),
        ("Service fee", "6.00 CNY"),
        ("Credited", "294.00 CNY"),
        ("Balance after", "294.00 CNY"),
    ]:
        expect(summary.locator("dt", has_text=label).locator("+ dd")).to_have_text(value)
    expect(counter.locator("#id_reason")).to_have_value("Counter sale")
    shoot(counter, "06-sell-confirm")
    counter.click("#action-confirm")

    # The receipt, printed.
    receipt = counter.get_by_test_id("receipt")
    expect(receipt.locator("#receipt-tenant")).to_have_text("Empty Pockets")
    expect(receipt.locator("#receipt-room")).to_have_text("A102")
    expect(receipt.locator("#receipt-amount")).to_have_text("300.00 CNY")
    expect(receipt.locator("#receipt-fee")).to_have_text("6.00 CNY")
    expect(receipt.locator("#receipt-credited")).to_have_text("294.00 CNY")
    expect(receipt.locator("#receipt-cashier")).to_contain_text("li.na")
    shoot(counter, "07-receipt")
    counter.click("#print-receipt")
    assert counter.evaluate("window.__printed") == 1
    counter.emulate_media(media="print")
    expect(counter.locator("#print-receipt")).to_be_hidden()
    expect(counter.locator("header.topbar")).to_be_hidden()
    expect(receipt).to_be_visible()
    counter.emulate_media(media="screen")

    # The sale queued a close; the collector sends it, reads the meter back, the wall sees it.
    expect(wall.get_by_test_id(tile)).to_have_attribute(
        "data-state", "opened", timeout=LIVE_WAIT_MS
    )
    expect(wall.get_by_test_id(tile).locator("[data-field=state_label]")).to_have_text("Opened")
    expect(wall.get_by_test_id(tile).locator("[data-field=credit]")).to_have_text("294.00")
    expect(wall.locator("[data-count=tripped]")).to_have_text("0")
    shoot(wall, "08-monitor-closed")

    counter.click("#receipt-back")
    expect(counter.get_by_test_id("point-state")).to_have_text("Opened")
    close = command_row(counter, "Close")
    expect(close.locator("[data-status]")).to_have_text("Confirmed")
    expect(close).to_contain_text("li.na")  # the sale asked for it
    expect(counter.locator("[data-live=relay_closed]")).to_have_text("closed (on)")

    command = Command.objects.get(point=room, kind=CommandKind.CLOSE)
    assert command.status == CommandStatus.CONFIRMED
    assert live_field.state("A102").relay_closed is True
