"""Meter replacement carries balance and reading continuity: no kWh or cent lost or doubled."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pems.accounts.actions import balance
from pems.audit.models import AuditEvent
from pems.billing import actions
from pems.billing.credit import CreditError
from pems.billing.replacement import FinalReading, FinalTotalTooLow, replace_meter
from pems.billing.settlement import settle_point
from pems.control.actions import next_purchase_count
from pems.control.models import Command
from pems.inventory.choices import GatewayProtocol
from pems.inventory.models import Gateway, Meter
from pems.ledger import chart
from pems.ledger.verify import ledger_problems
from pems.metering.models import PointState
from tests.billing.scenarios import (
    T0,
    confirmed_sales,
    reading,
    relay_reading,
    server_side_tenant,
    swap_meter_side,
)
from tests.factories import catalogue_model
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db


def exchanged_at(point, minutes: int, final: str, reason: str):
    """The electrician's exchange ``minutes`` after T0: the old meter's ``final`` total, a new
    meter from 0."""
    return replace_meter(
        point,
        "555000000009",
        FinalReading(Decimal(final)),
        Decimal("0.000"),
        "electrician",
        reason,
        at=T0 + dt.timedelta(minutes=minutes),
    )


def test_a_server_side_exchange_charges_the_old_meter_to_its_end_and_the_new_from_its_start():
    account, point = server_side_tenant("1.00")
    old_meter = point.meter
    reading(point, 0, "900.000")
    settle_point(account, point)
    reading(point, 15, "905.000")
    # The electrician swaps the meter at +20 min: old meter reads 907.5, the new one 0.2.
    done = replace_meter(
        point,
        "555000000001",
        FinalReading(Decimal("907.500")),
        Decimal("0.200"),
        "electrician",
        "burnt terminal",
        at=T0 + dt.timedelta(minutes=20),
    )
    assert done.charged == cny("7.50")
    reading(point, 30, "1.200")  # the new meter: 1 kWh since the exchange
    settle_point(account, point)
    assert balance(account) == cny("-8.50")
    point.refresh_from_db()
    assert point.meter.number == "555000000001"
    old_meter.refresh_from_db()
    assert old_meter.removed_on is not None
    assert Meter.objects.filter(gateway=old_meter.gateway, address=old_meter.address).count() == 2
    event = AuditEvent.objects.get(action="meter.replace")
    assert event.reason == "burnt terminal"
    assert event.changes["meter"] == [old_meter.number, "555000000001"]
    assert (event.changes["charged"], event.changes["push_command"]) == ("7.50", None)
    assert ledger_problems() == []


def test_a_final_total_below_what_the_old_meter_reported_is_refused_and_nothing_changes():
    account, point = server_side_tenant("1.00")
    old_meter = point.meter
    reading(point, 0, "900.000")
    settle_point(account, point)
    reading(point, 15, "905.000")  # reported since the last charge
    with pytest.raises(FinalTotalTooLow) as refused:
        replace_meter(
            point,
            "555000000001",
            FinalReading(Decimal("904.000")),  # misread: below 905
            Decimal("0"),
            "electrician",
            "burnt terminal",
            at=T0 + dt.timedelta(minutes=20),
        )
    assert refused.value.reported == Decimal("905.000")
    point.refresh_from_db()
    old_meter.refresh_from_db()
    assert (point.meter_id, old_meter.removed_on) == (old_meter.pk, None)
    assert not Meter.objects.filter(number="555000000001").exists()
    assert not AuditEvent.objects.filter(action="meter.replace").exists()
    assert balance(account) == cny("0.00")


def test_an_exchange_recorded_late_reads_the_old_meter_past_a_misread_and_the_new_meters_readings():
    """The old meter read 900, 902, then a zero (a misread) and 905; the electrician swapped
    it at +50 min and recorded the exchange at +80, after the new meter had read 0.3 and 0.8.
    What the old meter reported is 905 (the zero passed over, the new meter's readings not
    its own): 904 is refused; 906 charges 6 kWh, and the new meter counts from 0 as typed."""
    account, point = server_side_tenant("1.00")
    reading(point, 0, "900.000")
    settle_point(account, point)
    for minutes, total in [(15, "902.000"), (30, "0.000"), (45, "905.000")]:
        reading(point, minutes, total)
    for minutes, total in [(60, "0.300"), (75, "0.800")]:  # the new meter, not yet recorded
        reading(point, minutes, total)

    def exchange(final: str):
        return exchanged_at(point, 80, final, "recorded after the swap")

    with pytest.raises(FinalTotalTooLow) as refused:
        exchange("904.000")
    assert refused.value.reported == Decimal("905.000")
    assert exchange("906.000").charged == cny("6.00")
    reading(point, 90, "1.200")
    settle_point(account, point)
    assert balance(account) == cny("-7.20")
    assert ledger_problems() == []


def test_an_exchange_just_after_a_register_wrap_charges_across_it():
    """The worked wrap of test_falls: a DL/T 645 meter (range 1,000,000.00 kWh) read 999,990
    at T0 and 2 kWh a quarter hour to 999,998 at 60 min (charged), then 0.5 at 75 min. The
    meter is exchanged at 90 min, its final total read as 1.000: well inside the six hours
    settlement waits for a meter to come back, but the electrician saw the register. From
    999,998 across the wrap to 1,000,001 is 3 kWh (12 kWh/h, under 3 × its 8 kWh/h); a
    final total of 0.300, below the 0.5 the meter reported after the wrap, is refused."""
    account, point = server_side_tenant("1.00")
    Meter.objects.filter(pk=point.meter_id).update(model=catalogue_model("DLT645-GENERIC"))
    Gateway.objects.filter(pk=point.meter.gateway_id).update(
        protocol=GatewayProtocol.DLT645_OVER_TCP
    )
    for quarter in range(5):
        reading(point, 15 * quarter, f"{999_990 + 2 * quarter}.000")
    settle_point(account, point)  # the baseline
    settle_point(account, point)
    assert balance(account) == cny("-8.00")
    reading(point, 75, "0.500")

    def exchange(final: str):
        return exchanged_at(point, 90, final, "display failing")

    with pytest.raises(FinalTotalTooLow) as refused:
        exchange("0.300")
    assert refused.value.reported == Decimal("0.500")
    assert exchange("1.000").charged == cny("3.00")
    assert balance(account) == cny("-11.00")
    reading(point, 105, "0.400")  # the new meter
    settle_point(account, point)
    assert balance(account) == cny("-11.40")
    assert ledger_problems() == []


def test_a_meter_side_exchange_carries_the_remaining_credit_to_the_new_meter():
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    _, push = actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    Command.objects.filter(pk=push.pk).update(status="confirmed", completed_at=T0)
    relay_reading(point, True, T0, credit="80.00")
    done = replace_meter(
        point,
        "555000000002",
        FinalReading(Decimal("50.000"), remaining_credit=Decimal("64.30")),
        Decimal("0.000"),
        "electrician",
        "display dead",
        at=T0 + dt.timedelta(hours=2),
    )
    assert done.carried_credit == cny("64.30")
    assert (done.push.purchase_count, done.push.payload) == (
        1,
        {"amount": "64.30", "account": account.pk},
    )
    assert done.push.meter_id == done.new_meter.pk
    site = account.tenant.site
    assert chart.revenue(site, "electricity").balance == Decimal("35.70")  # spent on the old meter
    assert chart.meter_credit(account, point).balance == Decimal("64.30")  # on its way to the new
    assert ledger_problems() == []


def test_a_sale_waiting_to_reach_the_old_meter_goes_to_the_new_one_with_the_exchange():
    """The meter took a sale of 100.00 and showed 80.00; it then went dark, and a sale of
    30.00 waits to be sent to it. The electrician replaces it, reading 64.30 on it: 35.70
    was spent. The waiting push, counted from the old meter's purchases, would be refused
    by the new meter; it is withdrawn, and the new meter gets 64.30 + 30.00 = 94.30 as its
    first purchase."""
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    _, first = actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    Command.objects.filter(pk=first.pk).update(status="confirmed", completed_at=T0)
    relay_reading(point, True, T0, credit="80.00")
    second, waiting = actions.sell(account, cny("30.00"), "cash", "cashier", "s2")
    wallet_before = balance(account)

    done = swap_meter_side(point, "555000000008", remaining="64.30")

    assert done.carried_credit == cny("94.30")
    assert (done.push.purchase_count, done.push.payload) == (
        1,
        {"amount": "94.30", "account": account.pk},
    )
    waiting.refresh_from_db()
    assert (waiting.status, waiting.failure_reason) == ("failed", "cancelled")
    event = AuditEvent.objects.get(action="control.cancel", object_id=str(waiting.pk))
    assert event.reason == "sent to the replacement meter with the carried credit"
    site = account.tenant.site
    assert chart.revenue(site, "electricity").balance == Decimal("35.70")
    assert chart.meter_credit(account, point).balance == Decimal("94.30")
    assert balance(account) == wallet_before  # nothing came back to the wallet
    assert ledger_problems() == []
    # Its credit is on the new meter now: the sale can no longer be reversed, only refunded.
    with pytest.raises(CreditError, match="went to the replacement meter with the exchange"):
        actions.reverse_sale(second.entry, "cashier", "wrong amount")


def test_a_meter_side_exchange_needs_the_old_meters_remaining_credit():
    _, point = server_side_tenant("1.00", fee_control="meter-side")
    with pytest.raises(ValueError, match="remaining credit"):
        replace_meter(point, "555000000003", FinalReading(Decimal("1.000")), Decimal("0"), "e", "x")
    assert Meter.objects.filter(number="555000000003").count() == 0


def test_sales_after_a_meter_side_exchange_count_purchases_from_the_new_meter():
    # The old meter took three purchases (counts 1–3); the new one arrives with
    # count 0, takes the carried credit as purchase 1, and must see 2 next — a
    # meter accepts a purchase only when its count is its own last + 1.
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    confirmed_sales(account, 3)
    relay_reading(point, True, T0, credit="30.00")
    PointState.objects.filter(point=point).update(purchase_count=3)
    done = swap_meter_side(point, "555000000004", remaining="25.00")
    assert done.push.purchase_count == 1
    _, before_read = actions.sell(account, cny("10.00"), "cash", "cashier", "new-1")
    assert (before_read.meter_id, before_read.purchase_count) == (done.new_meter.pk, 2)
    # The collector then reads the new meter: it has taken both.
    relay_reading(point, True, T0 + dt.timedelta(hours=2), credit="45.00")
    PointState.objects.filter(point=point).update(purchase_count=2)
    _, after_read = actions.sell(account, cny("10.00"), "cash", "cashier", "new-2")
    assert after_read.purchase_count == 3
    assert next_purchase_count(point) == 4  # the Python rule agrees with the INSERT's
