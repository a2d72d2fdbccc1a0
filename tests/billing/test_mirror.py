"""Meter-side credit mirrored: each reading reconciled once, drift flagged when it appears,
stale readings passed over, the tenant warned once per level.

Hand-worked: a tenant buys 100.00 and the push lands. The meter then reports
70.00, so it spent 30.00 (booked as revenue, 70.00 left on the meter). A
report of 75.00 is 5.00 the meter holds beyond what PEMS sent: drift, flagged
once and never booked. As the tenant spends it down (72.00) the drift shrinks
and nothing new is flagged; a jump back to 76.00 is new drift, flagged again.
At 60.00 the meter has spent 10.00 more than PEMS last booked.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from pems.billing import actions, mirror, recall
from pems.billing.models import MeterCreditMirror, PrepaidEvent
from pems.control.models import Command, CommandKind
from pems.inventory.models import Meter
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from pems.metering.models import EventKind, MeterEvent, PointState
from tests.billing.scenarios import T0, relay_reading, server_side_tenant, swap_meter_side
from tests.factories import catalogue_model
from tests.ledger.scenarios import cny
from tests.threads import run_together

LATER = dt.timedelta(minutes=1)


def bought(amount="100.00", key="s1", **thresholds):
    """A meter-side tenant whose sale's push the meter confirmed at T0."""
    account, point = server_side_tenant("1.00", fee_control="meter-side", **thresholds)
    _, push = actions.sell(account, cny(amount), "cash", "cashier", key)
    Command.objects.filter(pk=push.pk).update(status="confirmed", completed_at=T0)
    return account, point


def revenue(account):
    return chart.revenue(account.tenant.site, "electricity").balance


def drift_events(point):
    return list(
        MeterEvent.objects.filter(point=point, kind=EventKind.CREDIT_DRIFT)
        .order_by("at")
        .values_list("before", "after")
    )


def alarm_events(account):
    return list(
        PrepaidEvent.objects.filter(account=account)
        .order_by("pk")
        .values_list("kind", "alarm", "balance")
    )


@pytest.mark.django_db
def test_each_reading_is_booked_once_and_drift_is_flagged_when_it_appears_or_grows():
    account, point = bought()
    steps = [  # (meter reports, revenue after, drift events so far)
        ("70.00", "30.00", 0),
        ("75.00", "30.00", 1),  # 5.00 beyond what PEMS sent
        ("72.00", "30.00", 1),  # the drift being spent: nothing new
        ("76.00", "30.00", 2),  # the meter gained credit again
        ("60.00", "40.00", 2),
    ]
    for n, (reported, booked, flagged) in enumerate(steps, start=1):
        relay_reading(point, True, T0 + n * LATER, credit=reported)
        assert mirror.reconcile_due() == 1
        assert mirror.reconcile_due() == 0  # the reading is taken once
        assert mirror.reconcile_point(account, point) is None
        assert revenue(account) == Decimal(booked), reported
        assert len(drift_events(point)) == flagged, reported
    assert drift_events(point) == [
        ({"expected": "70.00"}, {"meter": "75.00"}),
        ({"expected": "70.00"}, {"meter": "76.00"}),
    ]
    assert chart.meter_credit(account, point).balance == Decimal("60.00")
    held = MeterCreditMirror.objects.get(account=account, point=point)
    assert (held.read_at, held.reported, held.expected, held.drift) == (
        T0 + 5 * LATER,
        Decimal("60.00"),
        Decimal("70.00"),
        Decimal("0.00"),
    )
    usage = JournalEntry.objects.filter(account=account, kind="meter-usage").order_by("pk")
    assert [e.memo["reported"] for e in usage] == ["70.00", "60.00"]
    assert ledger_problems() == []


@pytest.mark.django_db
def test_a_reading_from_before_a_push_was_confirmed_is_passed_over():
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    relay_reading(point, True, T0, credit="0.00")  # read before the push landed
    _, push = actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    Command.objects.filter(pk=push.pk).update(status="confirmed", completed_at=T0 + LATER)

    stale = mirror.reconcile_point(account, point)

    assert stale is not None
    assert not stale.compared
    assert chart.meter_credit(account, point).balance == Decimal("100.00")  # not 100 of usage
    assert not mirror.points_due().exists()  # passed over for good
    relay_reading(point, True, T0 + 2 * LATER, credit="90.00")
    fresh = mirror.reconcile_point(account, point)
    assert fresh is not None
    assert (fresh.reported, fresh.usage_booked, fresh.drift) == (
        Decimal("90.00"),
        Decimal("10.00"),
        Decimal("0"),
    )
    assert ledger_problems() == []


@pytest.mark.django_db
def test_credit_a_push_in_flight_may_have_brought_is_not_drift():
    account, point = bought()
    _, second = actions.sell(account, cny("50.00"), "cash", "cashier", "s2")
    Command.objects.filter(pk=second.pk).update(status="sent")  # written, not yet read back
    relay_reading(point, True, T0 + LATER, credit="150.00")  # the meter took it already

    seen = mirror.reconcile_point(account, point)

    assert seen is not None
    assert (seen.usage_booked, seen.drift) == (Decimal(0), Decimal(0))
    assert drift_events(point) == []
    # Read back: the push is confirmed, and the next reading matches what PEMS sent.
    Command.objects.filter(pk=second.pk).update(status="confirmed", completed_at=T0 + 2 * LATER)
    relay_reading(point, True, T0 + 3 * LATER, credit="150.00")
    matched = mirror.reconcile_point(account, point)
    assert matched is not None
    assert (matched.expected, matched.drift) == (Decimal("150.00"), 0)
    assert drift_events(point) == []
    assert revenue(account) == Decimal("0.00")


@pytest.mark.django_db
def test_nothing_is_reconciled_while_a_clear_is_in_flight():
    """The meter may read 0 before the clear is confirmed: booking that as usage
    would leave the recall nothing to give back."""
    account, point = bought()
    recall.recall_meter_credit(account, point, "cashier", "moving out", "r1")
    relay_reading(point, False, T0 + LATER, credit="0.00")

    assert mirror.reconcile_point(account, point) is None
    assert mirror.reconcile_due() == 1  # looked at, and left for the recall
    assert revenue(account) == Decimal("0.00")
    assert chart.meter_credit(account, point).balance == Decimal("100.00")
    assert not MeterCreditMirror.objects.exists()


@pytest.mark.django_db
def test_a_meter_exchange_passes_over_the_old_meters_last_readings():
    """Exchanged holding nothing, the old meter's last sweep (5.00) is not the new meter's drift."""
    account, point = bought()
    relay_reading(point, True, T0 + 30 * LATER, credit="5.00")  # swept before the exchange
    swap_meter_side(point, "20260001", remaining="0.00")  # an hour after T0: 100.00 booked

    assert not mirror.points_due().exists()
    assert mirror.reconcile_due() == 0
    assert drift_events(point) == []
    assert revenue(account) == Decimal("100.00")
    relay_reading(point, True, T0 + 61 * LATER, credit="0.00")  # the new meter, empty
    assert mirror.reconcile_due() == 1
    assert drift_events(point) == []
    assert revenue(account) == Decimal("100.00")


@pytest.mark.django_db
def test_a_meter_side_tenant_is_warned_once_per_level_and_never_tripped_by_pems():
    account, point = bought(alarm1_threshold=Decimal("50.00"), alarm2_threshold=Decimal("20.00"))
    for n, reported in enumerate(["40.00", "35.00", "10.00", "9.00", "0.00"], start=1):
        relay_reading(point, True, T0 + n * LATER, credit=reported)
        mirror.reconcile_due()
    _, top_up = actions.sell(account, cny("80.00"), "cash", "cashier", "s2")
    Command.objects.filter(pk=top_up.pk).update(status="confirmed", completed_at=T0 + 6 * LATER)
    relay_reading(point, True, T0 + 7 * LATER, credit="80.00")
    mirror.reconcile_due()

    assert alarm_events(account) == [
        ("alarm_raised", 1, Decimal("40.00")),
        ("alarm_raised", 2, Decimal("10.00")),
        ("alarm_raised", 3, Decimal("0.00")),
        ("alarm_cleared", 0, Decimal("80.00")),
    ]
    assert not Command.objects.filter(point=point, kind__in=[CommandKind.TRIP, "close"]).exists()
    assert revenue(account) == Decimal("100.00")
    assert ledger_problems() == []


@pytest.mark.django_db
def test_a_top_up_clears_the_alarm_at_the_sale_and_a_reading_before_its_push_lands_keeps_it():
    account, point = bought(alarm1_threshold=Decimal("50.00"), alarm2_threshold=Decimal("20.00"))
    relay_reading(point, True, T0 + LATER, credit="10.00")  # 90.00 spent: alarm 2
    mirror.reconcile_due()
    assert alarm_events(account) == [("alarm_raised", 2, Decimal("10.00"))]

    # 10.00 on the meter and 60.00 on its way: 70.00.
    _, top_up = actions.sell(account, cny("60.00"), "cash", "cashier", "s2")
    assert alarm_events(account)[1:] == [("alarm_cleared", 0, Decimal("70.00"))]

    # Read before the push lands: the meter still shows 8.00. The push in flight counts,
    # so the tenant holds 68.00 and the alarm is not raised again.
    relay_reading(point, True, T0 + 2 * LATER, credit="8.00")
    assert mirror.reconcile_due() == 1
    Command.objects.filter(pk=top_up.pk).update(status="confirmed", completed_at=T0 + 3 * LATER)
    relay_reading(point, True, T0 + 4 * LATER, credit="67.00")
    assert mirror.reconcile_due() == 1
    assert alarm_events(account)[2:] == []
    assert revenue(account) == Decimal("93.00")
    assert ledger_problems() == []


@pytest.mark.django_db
def test_a_small_top_up_lowers_the_alarm_by_what_the_meter_holds_and_its_drift():
    account, point = bought(alarm1_threshold=Decimal("50.00"), alarm2_threshold=Decimal("20.00"))
    relay_reading(point, True, T0 + LATER, credit="5.00")  # 95.00 spent
    mirror.reconcile_due()
    relay_reading(point, True, T0 + 2 * LATER, credit="15.00")  # 10.00 PEMS did not send
    mirror.reconcile_due()
    assert alarm_events(account) == [("alarm_raised", 2, Decimal("5.00"))]  # 15.00 left

    # 5.00 by PEMS's account, 10.00 of drift and 10.00 bought: 25.00, alarm 1.
    actions.sell(account, cny("10.00"), "cash", "cashier", "s2")
    assert alarm_events(account)[1:] == [("alarm_cleared", 1, Decimal("25.00"))]
    actions.sell(account, cny("10.00"), "cash", "cashier", "s2")  # a replay judges nothing
    assert len(alarm_events(account)) == 2


@pytest.mark.django_db
def test_drift_counts_towards_the_warnings_the_meter_spends_it_before_it_trips():
    account, point = bought(alarm1_threshold=Decimal("50.00"), alarm2_threshold=Decimal("20.00"))
    relay_reading(point, True, T0 + LATER, credit="40.00")  # 60.00 spent
    mirror.reconcile_due()
    relay_reading(point, True, T0 + 2 * LATER, credit="60.00")  # 20.00 PEMS did not send
    mirror.reconcile_due()

    assert alarm_events(account) == [
        ("alarm_raised", 1, Decimal("40.00")),
        ("alarm_cleared", 0, Decimal("60.00")),
    ]
    assert chart.meter_credit(account, point).balance == Decimal("40.00")  # drift not booked


@pytest.mark.django_db
def test_pems_settle_reconciles_meter_side_points():
    account, point = bought()
    relay_reading(point, True, T0 + LATER, credit="64.50")
    out = _settle()
    assert "reconciled 1 meter-side point(s)" in out
    assert revenue(account) == Decimal("35.50")
    assert "reconciled 0 meter-side point(s)" in _settle()


@pytest.mark.django_db
def test_pems_status_says_how_current_the_mirror_is():
    bought()  # a meter not read yet: not counted
    _account, point = bought(key="s2")
    relay_reading(point, True, T0 + LATER, credit="105.00")  # 5.00 PEMS did not send
    _other, spending = bought(key="s3")
    sweep(spending, 1, "90.00", "10.000")
    assert "Meter-side credit: 2 points, 2 read since" in _status()
    mirror.reconcile_due()
    assert (
        "Meter-side credit: 2 points, 0 read since their last reconciliation (pems settle "
        "takes them), 1 holding credit PEMS did not send, 0 whose total fell below the last "
        "one reconciled (their readings wait: a misread, or an exchange to record)"
    ) in _status()
    sweep(spending, 2, "0.00", "0.000")  # a meter answering zeros: passed over
    mirror.reconcile_due()
    assert "1 holding credit PEMS did not send, 1 whose total fell below" in _status()


def _status():
    out = StringIO()
    call_command("status", stdout=out)
    return out.getvalue()


def _settle():
    out = StringIO()
    call_command("settle", stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_take_each_reading_once():
    accounts = [bought(key=f"s{n}") for n in range(4)]
    for n, (_, point) in enumerate(accounts):
        relay_reading(point, True, timezone.now(), credit=f"{90 - n}.00")  # drift-free spending
    relay_reading(accounts[0][1], True, timezone.now(), credit="101.00")  # one drifts by 1.00

    run_together([mirror.reconcile_due, mirror.reconcile_due])

    spent = [revenue(account) for account, _ in accounts]
    assert spent[1:] == [Decimal("11.00"), Decimal("12.00"), Decimal("13.00")]
    assert spent[0] == Decimal("0.00")
    assert len(drift_events(accounts[0][1])) == 1
    assert JournalEntry.objects.filter(kind="meter-usage").count() == 3
    assert ledger_problems() == []


def sweep(point, minutes, credit, energy):
    """The collector's latest state: remaining credit and total energy."""
    PointState.objects.update_or_create(
        point=point,
        defaults={
            "relay_closed": True,
            "read_at": T0 + minutes * LATER,
            "remaining_credit": Decimal(credit),
            "energy_total": Decimal(energy),
        },
    )


@pytest.mark.django_db
def test_a_reading_of_zeros_books_nothing_and_the_next_good_one_is_compared():
    account, point = bought()  # 100.00 on the meter
    sweep(point, 1, "70.00", "30.000")
    assert mirror.reconcile_due() == 1
    assert revenue(account) == Decimal("30.00")
    sweep(point, 2, "0.00", "0.000")  # a meter answering zeros as it powers up
    assert mirror.reconcile_due() == 1  # taken, and passed over
    assert revenue(account) == Decimal("30.00")  # not its whole credit as spent
    sweep(point, 3, "65.00", "35.000")
    assert mirror.reconcile_due() == 1
    assert revenue(account) == Decimal("35.00")
    assert drift_events(point) == []
    assert ledger_problems() == []


@pytest.mark.django_db
def test_a_meter_side_register_wrapping_round_is_compared_as_usual():
    account, point = bought()
    Meter.objects.filter(pk=point.meter_id).update(model=catalogue_model("DLT645-GENERIC"))
    sweep(point, 1, "90.00", "999990.000")
    mirror.reconcile_due()
    sweep(point, 2, "80.00", "2.000")  # 12 kWh across the wrap at 1,000,000.00
    mirror.reconcile_due()
    assert revenue(account) == Decimal("20.00")


@pytest.mark.django_db
def test_after_an_exchange_the_new_meters_lower_total_is_no_misread():
    """The old meter read 500 kWh; the new one counts from zero. Its readings are compared
    (the exchange forgets the old total), so its spending is booked."""
    account, point = bought()
    sweep(point, 10, "90.00", "500.000")
    mirror.reconcile_due()
    _, top_up = actions.sell(account, cny("1.00"), "cash", "cashier", "s2")
    Command.objects.filter(pk=top_up.pk).update(status="confirmed", completed_at=T0 + 11 * LATER)
    swap_meter_side(point, "20260002", remaining="91.00")  # an hour after T0
    carried = Command.objects.filter(point=point, kind=CommandKind.PUSH_CREDIT).latest("pk")
    Command.objects.filter(pk=carried.pk).update(status="confirmed", completed_at=T0 + 61 * LATER)
    sweep(point, 62, "86.00", "2.000")  # the new meter: 5.00 spent
    assert mirror.reconcile_due() == 1
    assert revenue(account) == Decimal("15.00")
    assert ledger_problems() == []
