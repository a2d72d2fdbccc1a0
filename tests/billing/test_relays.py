"""A person's relay orders and the prepaid policy: a person's trip holds, a close the
policy would undo is refused, keep-power and resume prepaid hand the relay back."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pems.audit.models import AuditEvent
from pems.billing import actions
from pems.billing.policy import apply_policy, relay_of
from pems.billing.relays import RelayRefused, order_relay
from pems.control.models import Command
from pems.domain.policy import RelayState
from tests.billing.scenarios import reading, server_side_tenant
from tests.billing.test_prepaid_flow import confirm
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db


def with_credit(amount: str | None = "100.00", **options):
    account, point = server_side_tenant("1.00", reconnect_minimum=Decimal("10.00"), **options)
    if amount is not None:
        actions.sell(account, cny(amount), "cash", "cashier", f"sale-{amount}")
    reading(point, 0, "0.000")
    return account, point


def test_a_persons_trip_holds_against_a_balance_in_credit():
    account, point = with_credit()
    trip = order_relay(point, "trip", "electrician", "rewiring the shop", "k-trip")
    assert (trip.by_policy, trip.requested_by) == (False, "electrician")
    assert apply_policy(account) == []  # pending: the policy waits
    confirm(trip, point, relay_closed=False)
    assert apply_policy(account) == []  # confirmed open, 100.00 in credit: still no close
    actions.sell(account, cny("50.00"), "cash", "cashier", "top-up")
    assert not Command.objects.filter(point=point, kind="close").exists()
    assert relay_of(point).person_tripped


def test_the_policys_own_trip_is_closed_after_a_top_up():
    account, point = server_side_tenant("1.00", reconnect_minimum=Decimal("10.00"))
    reading(point, 0, "0.000")
    (trip,) = apply_policy(account)  # 0.00: trip
    assert trip.by_policy
    confirm(trip, point, relay_closed=False)
    actions.sell(account, cny("20.00"), "cash", "cashier", "s1")
    close = Command.objects.get(point=point, kind="close")
    assert close.by_policy
    assert not relay_of(point).person_tripped


@pytest.mark.parametrize("release", ["resume_prepaid", "keep_power_on"])
def test_resume_prepaid_or_keep_power_hands_a_persons_trip_back(release):
    account, point = with_credit()
    trip = order_relay(point, "trip", "electrician", "inspection", "k-trip")
    confirm(trip, point, relay_closed=False)
    order_relay(point, release, "electrician", "inspection done", f"k-{release}")
    if release == "keep_power_on":
        apply_policy(account)
    close = Command.objects.get(point=point, kind="close")
    assert close.by_policy  # the policy closed it: 100.00 is above the reconnect minimum
    account.refresh_from_db()
    assert account.keep_power is (release == "keep_power_on")


def test_a_close_the_policy_would_undo_is_refused_and_changes_nothing():
    _, point = with_credit("5.00")  # 5.00: not above the 10.00 reconnect minimum
    trip = order_relay(point, "trip", "electrician", "test", "k-trip")
    confirm(trip, point, relay_closed=False)
    commands, audits = Command.objects.count(), AuditEvent.objects.count()
    with pytest.raises(RelayRefused, match="not above the reconnect minimum"):
        order_relay(point, "close", "electrician", "tenant asks", "k-close")
    assert (Command.objects.count(), AuditEvent.objects.count()) == (commands, audits)


def test_a_close_is_allowed_with_enough_credit_or_keep_power():
    _, point = with_credit("50.00")
    assert order_relay(point, "close", "electrician", "restore", "k1").kind == "close"
    _, kept = with_credit(None, keep_power=True)
    assert order_relay(kept, "close", "electrician", "hospital ward", "k2").kind == "close"


def test_keep_power_on_and_resume_prepaid_set_the_account_flag_once():
    account, point = with_credit()
    order_relay(point, "keep_power_on", "manager", "holiday", "k1")
    order_relay(point, "keep_power_on", "manager", "holiday", "k1")  # a replayed form
    account.refresh_from_db()
    assert account.keep_power
    assert AuditEvent.objects.filter(action="account.thresholds").count() == 1
    order_relay(point, "resume_prepaid", "manager", "holiday over", "k2")
    account.refresh_from_db()
    assert not account.keep_power
    assert Command.objects.filter(point=point, kind="keep_power_on").count() == 1


def test_only_relay_orders_are_accepted():
    _, point = with_credit()
    with pytest.raises(RelayRefused, match="not a relay order"):
        order_relay(point, "push_credit", "x", "y")
    assert relay_of(point).state is RelayState.CLOSED
