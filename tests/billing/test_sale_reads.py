"""A sale's SQL reads (``billing.sale_reads``) find exactly what the ORM reads find.

``sell`` reads the fee ratio, the account's points and the policy's inputs in
two hand-written statements; the policy elsewhere reads them through the ORM
(``fee_ratio``, ``active_points``, ``read_inputs``). Each situation below is
read both ways and must agree, field by field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from pems.accounts import actions as ledger_actions
from pems.audit.models import AuditEvent
from pems.billing import actions, policy
from pems.billing.actions import fee_ratio
from pems.billing.models import MeterCreditMirror, PrepaidEvent, PrepaidState
from pems.billing.sale_reads import read_for_sale
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.control import actions as control
from pems.control.models import CommandStatus
from pems.domain.money import Money
from pems.domain.policy import RelayCommand, RelayState
from pems.ledger import chart, posting
from pems.ledger.models import JournalEntry
from pems.ledger.posting import LedgerError
from pems.metering.models import PointState
from tests.billing.scenarios import flat_tariff_document, server_side_tenant
from tests.factories import MeteringPointFactory, staff_user
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db


@pytest.fixture
def cashier_sale():
    """A server-side account and a cashier of its site."""
    account, _ = server_side_tenant()
    return account, staff_user("cashier", account.tenant.site)


def both_ways(account):
    """(SQL reads, ORM reads) of ``account``, each as comparable plain values."""
    with transaction.atomic():
        locked = ledger_actions.lock_open(account)
        sql = read_for_sale(locked, timezone.now())
        points = policy.active_points(locked)
        orm = (fee_ratio(locked), points, policy.read_inputs(locked, points))
    return plain(sql.fee_ratio, sql.points, sql.inputs), plain(*orm)


def plain(ratio, points, inputs):
    fields = [f.attname for f in points[0]._meta.concrete_fields] if points else []
    state = inputs.state
    return (
        ratio,
        [[getattr(p, name) for name in fields] for p in points],
        (state.pk, state.alarm, state.balance),
        [(p.pk, relay) for p, relay in inputs.relays],
    )


def settle_command(command, status, completed_at=None):
    command.status = status
    command.completed_at = completed_at
    command.save(update_fields=["status", "completed_at"])


def test_a_new_account_reads_no_fee_a_fresh_alarm_state_and_a_closed_relay():
    account, point = server_side_tenant()
    sql, orm = both_ways(account)
    assert sql == orm
    assert sql[0] == Decimal(0)
    assert sql[3] == [(point.pk, policy.Relay(RelayState.CLOSED))]


def test_the_fee_in_force_now_counts_not_a_later_one():
    account, _ = server_side_tenant()
    site = account.tenant.site
    now = timezone.now()
    with_fee = create_tariff(
        site, "Fee 2 %", flat_tariff_document(extra="service_fee_ratio = 0.02"), actor="test"
    )
    later = create_tariff(
        site, "Fee 5 %", flat_tariff_document(extra="service_fee_ratio = 0.05"), actor="test"
    )
    assign_tariff(account, with_fee, now - dt.timedelta(days=1), actor="test")
    assign_tariff(account, later, now + dt.timedelta(days=1), actor="test")
    sql, orm = both_ways(account)
    assert sql == orm
    assert sql[0] == Decimal("0.02")


def test_relay_knowledge_from_readings_commands_in_flight_failures_and_a_persons_trip():
    account, read_open = server_side_tenant()
    site = account.tenant.site
    confirmed_later, in_flight, person, meter_side = (
        MeteringPointFactory(meter__gateway__site=site, fee_control=fee)
        for fee in ("server-side", "server-side", "server-side", "meter-side")
    )
    released_point = MeteringPointFactory(meter__gateway__site=site)
    for point in (confirmed_later, in_flight, person, meter_side, released_point):
        account.links.create(metering_point=point)
    account.links.filter(metering_point=released_point).update(released_at=timezone.now())
    read_at = timezone.now() - dt.timedelta(minutes=5)
    PointState.objects.create(point=read_open, read_at=read_at, relay_closed=False)
    PointState.objects.create(point=confirmed_later, read_at=read_at, relay_closed=False)
    close = control.enqueue(confirmed_later, "close", by_policy=True)
    settle_command(close, CommandStatus.CONFIRMED, timezone.now())
    failed = control.enqueue(confirmed_later, "trip", by_policy=True)
    settle_command(failed, CommandStatus.FAILED, timezone.now())
    control.enqueue(in_flight, "trip", by_policy=True)
    trip = control.enqueue(person, "trip", actor="test", reason="electrician at work")
    settle_command(trip, CommandStatus.CONFIRMED, timezone.now())

    sql, orm = both_ways(account)

    assert sql == orm
    relays = dict(sql[3])
    assert [row[0] for row in sql[1]] == sorted(
        p.pk for p in (read_open, confirmed_later, in_flight, person, meter_side)
    )
    assert meter_side.pk not in relays
    assert relays[read_open.pk] == policy.Relay(RelayState.OPEN)
    assert relays[confirmed_later.pk] == policy.Relay(RelayState.CLOSED)
    assert relays[in_flight.pk] == policy.Relay(RelayState.CLOSED, RelayCommand.TRIP)
    assert relays[person.pk] == policy.Relay(RelayState.OPEN, None, person_tripped=True)

    control.enqueue(person, "keep_power_on", actor="test", reason="tenant back")
    sql, orm = both_ways(account)
    assert sql == orm
    assert dict(sql[3])[person.pk].person_tripped is False


def test_an_account_whose_points_were_all_released_still_reads_its_fee_and_alarm_state():
    account, _ = server_side_tenant()
    fee = create_tariff(
        account.tenant.site, "Fee 3 %", flat_tariff_document(extra="service_fee_ratio = 0.03"), "t"
    )
    assign_tariff(account, fee, timezone.now() - dt.timedelta(hours=1), actor="t")
    both_ways(account)  # the alarm state exists from here on
    account.links.update(released_at=timezone.now())
    sql, orm = both_ways(account)
    assert sql == orm
    assert (sql[0], sql[1], sql[3]) == (Decimal("0.03"), [], [])


def test_the_wallet_balance_and_a_replayed_key_are_read_with_the_rest(cashier_sale):
    account, cashier = cashier_sale
    with transaction.atomic():
        fresh = read_for_sale(ledger_actions.lock_open(account), timezone.now(), "k1")
    assert (fresh.wallet, fresh.replay) == (Decimal(0), False)  # no wallet row yet
    actions.sell(account, cny("25.00"), "cash", cashier, "k1")
    with transaction.atomic():
        locked = ledger_actions.lock_open(account)
        again = read_for_sale(locked, timezone.now(), "k1")
        other = read_for_sale(locked, timezone.now(), "k2")
    assert (again.wallet, again.replay) == (ledger_actions.balance(account).amount, True)
    assert (other.wallet, other.replay) == (Decimal("25.00"), False)


def test_each_meter_side_point_reads_its_meter_credit_and_last_drift_and_no_other_accounts():
    account, server_side = server_side_tenant()
    site = account.tenant.site
    fresh, held, drifted = (
        MeteringPointFactory(meter__gateway__site=site, fee_control="meter-side") for _ in range(3)
    )
    for point in (fresh, held, drifted):
        account.links.create(metering_point=point)
    other, _ = server_side_tenant(site=site)
    for owner, point, amount in ((account, held, "30.00"), (other, fresh, "7.00")):
        post(owner, point, amount)  # the other account's credit on ``fresh`` is not ours
    post(account, drifted, "12.50")
    MeterCreditMirror.objects.create(
        account=account, point=drifted, read_at=timezone.now(), drift=Decimal("4.25")
    )
    MeterCreditMirror.objects.create(
        account=other, point=held, read_at=timezone.now(), drift=Decimal("99.00")
    )
    with transaction.atomic():
        reads = read_for_sale(ledger_actions.lock_open(account), timezone.now())
    orm = {
        point.pk: chart.balances(chart.meter_credit_ref(account, point))[0]
        + sum(m.drift for m in MeterCreditMirror.objects.filter(account=account, point=point))
        for point in (fresh, held, drifted)
    }
    assert (
        reads.meter_credit
        == orm
        == {
            fresh.pk: Decimal(0),
            held.pk: Decimal("30.00"),
            drifted.pk: Decimal("16.75"),
        }
    )
    assert server_side.pk not in reads.meter_credit


def post(account, point, amount):
    """Credit moved from the account's wallet on to a point's meter (as a sale's transfer)."""
    money = cny(amount)
    posting.post(
        site_id=account.tenant.site_id,
        kind=JournalEntry.Kind.METER_TRANSFER,
        lines=[
            (chart.wallet_ref(account), -money),
            (chart.meter_credit_ref(account, point), money),
        ],
        actor="test",
        account_id=account.pk,
    )


def test_a_sale_whose_wallet_moved_outside_the_lock_is_undone(cashier_sale, monkeypatch):
    account, cashier = cashier_sale
    actions.sell(account, cny("10.00"), "cash", cashier, "first")
    real = actions.read_for_sale

    def stale(locked, now, key):
        reads = real(locked, now, key)
        return dataclasses.replace(reads, wallet=reads.wallet - Decimal("1.00"))

    monkeypatch.setattr(actions, "read_for_sale", stale)
    written = (
        JournalEntry.objects.count(),
        AuditEvent.objects.count(),
        PrepaidEvent.objects.count(),
    )
    state = PrepaidState.objects.values_list("alarm", "balance").get(account=account)
    with pytest.raises(LedgerError, match="moved outside the account lock"):
        actions.sell(account, cny("10.00"), "cash", cashier, "second")
    assert (
        JournalEntry.objects.count(),
        AuditEvent.objects.count(),
        PrepaidEvent.objects.count(),
    ) == (written)
    assert PrepaidState.objects.values_list("alarm", "balance").get(account=account) == state
    assert ledger_actions.balance(account) == cny("10.00")


@pytest.mark.parametrize(
    ("amount", "channel", "refusal"),
    [
        (Money(Decimal("5.00"), "USD"), "cash", "site's currency CNY"),
        (Money(Decimal("0.00"), "CNY"), "cash", "positive"),
        (Money(Decimal("5.00"), "CNY"), "bitcoin", "bitcoin"),
    ],
)
def test_a_refused_sale_leaves_the_alarm_state_events_and_ledger_as_they_were(
    cashier_sale, amount, channel, refusal
):
    account, cashier = cashier_sale
    actions.sell(account, cny("1.00"), "cash", cashier, "first")  # alarm 1 or 2 at 1.00
    written = (
        JournalEntry.objects.count(),
        AuditEvent.objects.count(),
        PrepaidEvent.objects.count(),
    )
    state = PrepaidState.objects.values_list("alarm", "balance", "decided_at").get(account=account)
    with pytest.raises((ledger_actions.AccountActionError, ValueError), match=refusal):
        actions.sell(account, amount, channel, cashier, "refused")
    assert (
        JournalEntry.objects.count(),
        AuditEvent.objects.count(),
        PrepaidEvent.objects.count(),
    ) == (written)
    assert (
        PrepaidState.objects.values_list("alarm", "balance", "decided_at").get(account=account)
        == state
    )
