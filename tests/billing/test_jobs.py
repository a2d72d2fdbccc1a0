"""The settlement job follows the collector: a reading at zero credit queues the trip."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
import time_machine

from pems.accounts.actions import balance
from pems.billing import actions
from pems.billing.jobs import Blocked, accounts_due, settle_due
from pems.billing.settlement import settle_account as jobs_settle_account
from pems.control.models import Command
from pems.metering.models import PointState
from tests.billing.scenarios import T0, reading, server_side_tenant
from tests.factories import MeteringPointFactory
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


def two_tenants_read_at(total: int):
    """Two server-side tenants at 1.00 a kWh whose meters read ``total`` kWh at T0."""
    tenants = [server_side_tenant("1.00") for _ in range(2)]
    for _account, point in tenants:
        reading(point, 0, f"{total}.000")
        latest(point, 0, f"{total}.000")
    return tenants


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
    (stuck, stuck_point), (fine, fine_point) = two_tenants_read_at(50)
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


def blocked_warnings(caplog) -> list[int]:
    return [r.account for r in caplog.records if r.getMessage() == "settlement blocked"]


def test_a_loop_warns_about_a_blocked_account_once_and_tries_it_again_later(caplog, monkeypatch):
    """A total going backwards blocks an account until the exchange is recorded: the loop
    warns once (again when the reason changes or an hour has passed), leaves it alone for
    the retry period, and says when it settles again."""
    (stuck, stuck_point), (fine, fine_point) = two_tenants_read_at(50)
    loop = Blocked()
    settle_due(blocked=loop)
    latest(stuck_point, 5, "10.000")  # went backwards
    tried = []

    def settle_account(account, **kwargs):
        tried.append(account.pk)
        return jobs_settle_account(account, **kwargs)

    monkeypatch.setattr("pems.billing.jobs.settle_account", settle_account)
    start = dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)
    with caplog.at_level(logging.INFO, logger="pems.billing.jobs"):
        for minutes, total in [(0, "51.000"), (1, "52.000"), (3, "53.000"), (61, "54.000")]:
            latest(fine_point, 5 + minutes, total)
            with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
                settle_due(blocked=loop)
        # tried at 0 (warned), skipped at 1, retried at 3 (same reason: quiet), warned at 61
        assert blocked_warnings(caplog) == [stuck.pk, stuck.pk]
        assert tried.count(stuck.pk) == 3
        assert tried.count(fine.pk) == 4
        assert balance(fine) == cny("-4.00")  # every pass settled the other account
        latest(stuck_point, 70, "60.000")  # the total is sane again past the stuck reading
        cursor = stuck.cursors.get()
        cursor.last_total = Decimal("10.000")  # as recording the exchange would
        cursor.save()
        with time_machine.travel(start + dt.timedelta(minutes=70), tick=False):
            settle_due(blocked=loop)
    assert [r.account for r in caplog.records if r.getMessage() == "settlement resumed"] == [
        stuck.pk
    ]
    assert loop.accounts == {}
    assert balance(stuck) == cny("-50.00")


def test_blocked_accounts_do_not_starve_the_others_when_a_pass_is_limited():
    (stuck, stuck_point), (fine, fine_point) = two_tenants_read_at(50)
    settle_due()
    latest(stuck_point, 5, "10.000")
    latest(fine_point, 5, "53.000")
    loop = Blocked()
    settle_due(limit=1, blocked=loop)
    settle_due(limit=1, blocked=loop)  # the blocked one, if taken first, waits its turn
    assert balance(fine) == cny("-3.00")
    assert set(loop.accounts) == {stuck.pk}


def test_a_stuck_point_waits_but_its_accounts_other_point_still_trips_at_once():
    """A tenant paying for two server-side points, one stuck at a fallen total (an exchange
    not recorded): within the loop's retry period a zero-credit reading of the other point
    still queues its trip on the next pass, and the stuck one is not tried again."""
    account, stuck_point = server_side_tenant("1.00")
    other = MeteringPointFactory(meter__gateway__site=account.tenant.site)
    account.links.create(metering_point=other, attached_at=T0 - dt.timedelta(days=1))
    actions.sell(account, cny("10.00"), "cash", "cashier", "s1")
    for point in (stuck_point, other):
        reading(point, 0, "100.000")
        latest(point, 0, "100.000")
    loop = Blocked()
    settle_due(blocked=loop)  # the baselines
    latest(stuck_point, 5, "3.000")  # replaced, not recorded
    latest(other, 5, "101.000")
    start = dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        settle_due(blocked=loop)
    assert loop.waiting(start) == {account.pk: frozenset({stuck_point.pk})}
    assert balance(account) == cny("9.00")
    latest(other, 6, "111.000")  # 10 kWh more: the credit is gone
    with time_machine.travel(start + dt.timedelta(minutes=1), tick=False):
        settle_due(blocked=loop)
    assert balance(account) == cny("-1.00")
    assert Command.objects.filter(point=other, kind="trip").count() == 1
    assert set(loop.accounts) == {account.pk}  # the stuck point still waits
