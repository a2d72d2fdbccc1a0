"""The settlement job follows the collector: a reading at zero credit queues the trip."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pems.accounts.actions import balance
from pems.billing import actions
from pems.billing.jobs import accounts_due, settle_due
from pems.control.models import Command
from pems.metering.models import PointState
from tests.billing.scenarios import T0, reading, server_side_tenant
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db


def latest(point, minutes, total):
    """What the collector upserts on every sweep, between interval readings."""
    PointState.objects.update_or_create(
        point=point,
        defaults={
            "read_at": T0 + dt.timedelta(minutes=minutes),
            "energy_total": Decimal(total),
            "relay_closed": True,
        },
    )


def test_a_sweep_reading_at_zero_credit_queues_one_trip():
    account, point = server_side_tenant("1.00")
    actions.sell(account, cny("10.00"), "cash", "cashier", "s1")
    reading(point, 0, "100.000")
    latest(point, 0, "100.000")
    assert settle_due() == 1  # opens the cursor at the baseline
    assert list(accounts_due()) == []
    latest(point, 3, "112.000")  # 12 kWh later, before the next interval reading
    assert list(accounts_due()) == [account]
    settle_due()
    assert balance(account) == cny("-2.00")
    assert Command.objects.filter(point=point, kind="trip").count() == 1
    reading(point, 15, "112.500")  # the interval row arrives: only its 0.5 kWh is new
    latest(point, 15, "112.500")
    settle_due()
    assert balance(account) == cny("-2.50")
    assert Command.objects.filter(point=point, kind="trip").count() == 1


def test_one_blocked_account_does_not_stop_the_others():
    stuck, stuck_point = server_side_tenant("1.00")
    fine, fine_point = server_side_tenant("1.00")
    for point in (stuck_point, fine_point):
        reading(point, 0, "50.000")
        latest(point, 0, "50.000")
    settle_due()
    latest(stuck_point, 5, "10.000")  # went backwards: blocked until the exchange is recorded
    latest(fine_point, 5, "53.000")
    settle_due()
    assert balance(fine) == cny("-3.00")
    assert balance(stuck) == cny("0.00")


def test_a_point_with_only_a_latest_reading_gets_its_baseline_from_it():
    account, point = server_side_tenant("1.00")
    actions.sell(account, cny("10.00"), "cash", "cashier", "s1")
    latest(point, 0, "100.000")  # the collector has not written an interval row yet
    settle_due()
    latest(point, 3, "104.000")
    settle_due()
    assert balance(account) == cny("6.00")
