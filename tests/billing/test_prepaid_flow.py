"""The prepaid loop end to end: sell, settle, warn once per level, trip once at zero,
close once after a top-up; keep-power suppresses trips; meter-side credit is pushed once and
recalled only while unsent (reconciling it is tests/billing/test_mirror.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from pems.accounts import actions as ledger_actions
from pems.accounts.actions import balance
from pems.billing import actions, credit
from pems.billing.models import PrepaidEvent
from pems.billing.policy import apply_policy
from pems.billing.settlement import settle_account
from pems.control.models import Command
from pems.domain.policy import EventKind
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from tests.billing.scenarios import reading, relay_reading, server_side_tenant
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db


def consume_to(account, point, minutes, total):
    reading(point, minutes, total)
    settle_account(account)
    apply_policy(account)


def confirm(command, point, relay_closed):
    """What the collector does: confirm by read-back and store the new relay state."""
    now = timezone.now()
    Command.objects.filter(pk=command.pk).update(status="confirmed", completed_at=now)
    relay_reading(point, relay_closed, now - dt.timedelta(seconds=1))


def test_alarm_1_alarm_2_and_zero_each_announced_once_and_one_trip():
    account, point = server_side_tenant("1.00")  # site defaults: alarm 1 = 50, alarm 2 = 20
    actions.sell(account, cny("60.00"), "cash", "cashier", "s1")
    reading(point, 0, "0.000")
    settle_account(account)
    for minutes, total in [(15, "15"), (30, "16"), (45, "45"), (60, "46"), (75, "61"), (90, "65")]:
        consume_to(account, point, minutes, total)
    assert balance(account) == cny("-5.00")
    events = list(
        PrepaidEvent.objects.filter(account=account).order_by("pk").values_list("kind", "alarm")
    )
    assert events == [
        ("alarm_raised", 1),
        ("alarm_raised", 2),
        ("alarm_raised", 3),
        ("trip_requested", 3),
    ]
    trips = Command.objects.filter(point=point, kind="trip")
    assert trips.count() == 1


def test_a_top_up_above_the_reconnect_minimum_closes_once():
    account, point = server_side_tenant("1.00", reconnect_minimum=Decimal("10.00"))
    reading(point, 0, "0.000")
    settle_account(account)
    consume_to(account, point, 15, "3")  # −3.00: trip
    trip = Command.objects.get(point=point, kind="trip")
    confirm(trip, point, relay_closed=False)
    actions.sell(account, cny("12.00"), "cash", "cashier", "s1")  # 9.00: not above 10.00
    assert not Command.objects.filter(point=point, kind="close").exists()
    actions.sell(account, cny("5.00"), "cash", "cashier", "s2")  # 14.00: close
    apply_policy(account)
    apply_policy(account)
    assert Command.objects.filter(point=point, kind="close").count() == 1
    assert Command.objects.filter(point=point, kind="trip").count() == 1


def test_keep_power_suppresses_the_trip():
    account, point = server_side_tenant("1.00", keep_power=True)
    reading(point, 0, "0.000")
    settle_account(account)
    consume_to(account, point, 15, "30")
    assert balance(account) == cny("-30.00")
    assert not Command.objects.filter(point=point, kind="trip").exists()
    assert PrepaidEvent.objects.filter(account=account, kind="alarm_raised", alarm=3).count() == 1


def meter_side_tenant():
    return server_side_tenant("1.00", fee_control="meter-side")


def test_a_meter_side_sale_pushes_its_credit_once():
    account, point = meter_side_tenant()
    _, push = actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    again, push_again = actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    assert not again.created
    assert push_again.pk == push.pk
    assert (push.kind, push.payload, push.purchase_count) == (
        "push_credit",
        {"amount": "100.00"},
        1,
    )
    assert balance(account) == cny("0.00")  # the credit is on its way to the meter
    assert chart.meter_credit(account, point).balance == Decimal("100.00")
    _, second_push = actions.sell(account, cny("20.00"), "cash", "cashier", "s2")
    assert second_push.purchase_count == 2
    assert ledger_problems() == []


def test_an_unsent_meter_side_sale_is_reversed_with_its_push_cancelled():
    account, point = meter_side_tenant()
    sale, push = actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    actions.reverse_sale(sale.entry, "supervisor", "wrong room")
    push.refresh_from_db()
    assert (push.status, push.failure_reason) == ("failed", "cancelled")
    assert chart.meter_credit(account, point).balance == Decimal("0.00")
    assert balance(account) == cny("0.00")
    assert chart.clearing(account.tenant.site, "cash").balance == Decimal("0.00")
    assert ledger_problems() == []


def test_a_sale_already_sent_to_the_meter_cannot_be_reversed():
    account, point = meter_side_tenant()
    sale, push = actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    Command.objects.filter(pk=push.pk).update(status="sent")
    with pytest.raises(credit.CreditError, match="already sent"):
        actions.reverse_sale(sale.entry, "supervisor", "wrong room")
    assert chart.meter_credit(account, point).balance == Decimal("100.00")
    assert not JournalEntry.objects.filter(kind="reversal").exists()


def test_an_account_whose_meter_still_holds_credit_is_not_closed():
    account, point = meter_side_tenant()
    actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    with pytest.raises(ledger_actions.AccountActionError, match="still on the meter"):
        ledger_actions.close_account(account, "cashier", "moving out")
    account.refresh_from_db()
    assert account.is_open
    assert chart.meter_credit(account, point).balance == Decimal("100.00")


def test_every_policy_event_kind_has_a_label():
    """The console shows ``get_kind_display()``: a kind without a choice would show raw."""
    assert set(PrepaidEvent.Kind.values) == {kind.value for kind in EventKind}


def test_a_refund_to_zero_trips_the_server_side_meter_once():
    account, point = server_side_tenant("1.00")
    actions.sell(account, cny("30.00"), "cash", "cashier", "s1")
    reading(point, 0, "0.000")
    actions.refund(account, cny("30.00"), "cash", "manager", "tenant leaves", "r1")
    actions.refund(account, cny("30.00"), "cash", "manager", "tenant leaves", "r1")  # replay
    assert balance(account) == cny("0.00")
    assert Command.objects.filter(point=point, kind="trip", by_policy=True).count() == 1
