"""Reconciling meter-side points a chunk at a time gives what reconciling each alone gives,
in a dozen statements a chunk however many points it holds.

The situations are those of ``test_mirror.py`` (spending, drift, a push in
flight, a stale reading, a clear in flight, alarms crossed, two meters on one
account, an account that also pays for a server-side point, a meter that has
not reported its credit), each built twice: one twin is reconciled by
``reconcile_due`` (chunks of up to 20 accounts, so 30 accounts make two), the
other pair by pair. Two rounds of readings, so the second compares against
the mirrors the first wrote.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pems.accounts import actions as ledger_actions
from pems.billing import actions, credit, mirror, recall, reconcile_many
from pems.billing.models import MeterCreditMirror, PrepaidEvent, PrepaidState
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.control.models import Command
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from pems.metering.models import EventKind, MeterEvent
from tests.billing.scenarios import T0, flat_tariff_document, relay_reading
from tests.factories import MeteringPointFactory, SiteFactory, TenantFactory
from tests.ledger.scenarios import cny

LATER = dt.timedelta(minutes=1)
ALARMS = {"alarm1_threshold": Decimal("50.00"), "alarm2_threshold": Decimal("20.00")}


def _bought(*more, sale=True, **thresholds):
    """A meter-side tenant whose meter took a 100.00 sale at T0; ``more`` points of the
    given fee controls on the same account."""
    site = SiteFactory()
    points = [
        MeteringPointFactory(meter__gateway__site=site, fee_control=kind)
        for kind in ["meter-side", *more]
    ]
    account = ledger_actions.open_account(
        TenantFactory(site=site), points, actor="test", **thresholds
    )
    account.links.update(attached_at=T0 - dt.timedelta(days=1))
    tariff = create_tariff(site, "Flat", flat_tariff_document("1.00"), actor="test")
    assign_tariff(account, tariff, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), actor="test")
    if sale:
        _confirm(account, "100.00", "s1")
    return account, points


def _confirm(account, amount, key, at=T0):
    _, push = actions.sell(account, cny(amount), "cash", "cashier", f"{account.pk}-{key}")
    Command.objects.filter(pk=push.pk).update(status="confirmed", completed_at=at)


def spending():
    account, points = _bought()
    relay_reading(points[0], True, T0 + LATER, credit="70.00")
    return account, points


def drifting():
    account, points = _bought()
    relay_reading(points[0], True, T0 + LATER, credit="105.00")
    return account, points


def push_in_flight():
    account, points = _bought()
    _, push = actions.sell(account, cny("50.00"), "cash", "cashier", f"{account.pk}-s2")
    Command.objects.filter(pk=push.pk).update(status="sent")
    relay_reading(points[0], True, T0 + LATER, credit="140.00")
    return account, points


def stale():
    account, points = _bought()
    _confirm(account, "20.00", "s2", at=T0 + 2 * LATER)  # confirmed after the reading below
    relay_reading(points[0], True, T0 + LATER, credit="100.00")
    return account, points


def clearing():
    account, points = _bought()
    recall.recall_meter_credit(account, points[0], "cashier", "moving out", f"{account.pk}-r1")
    relay_reading(points[0], False, T0 + LATER, credit="0.00")
    return account, points


def alarms_crossed():
    account, points = _bought(**ALARMS)
    relay_reading(points[0], True, T0 + LATER, credit="10.00")
    return account, points


def two_meters():
    """Credit is sold to an account with one meter-side point: these two hold only drift."""
    account, (first, second) = _bought("meter-side", sale=False, **ALARMS)
    relay_reading(first, True, T0 + LATER, credit="45.00")
    relay_reading(second, True, T0 + LATER, credit="30.00")  # the same alarm level: one event
    return account, [first, second]


def also_server_side():
    account, (meter_side, _server_side) = _bought("server-side", **ALARMS)
    relay_reading(meter_side, True, T0 + LATER, credit="5.00")
    return account, [meter_side]


def not_reported():
    account, points = _bought()
    relay_reading(points[0], True, T0 + LATER)
    return account, points


SITUATIONS = [
    spending,
    drifting,
    push_in_flight,
    stale,
    clearing,
    alarms_crossed,
    two_meters,
    also_server_side,
    not_reported,
]
#: The second round's readings, by situation: spending, drift that grows or shrinks.
SECOND = ["61.00", "108.00", "150.00", "90.00", "0.00", "0.00", "40.00", "12.00", "99.00"]


def _outcome(account, points):
    """What reconciling left for one account, without ids (its twin must show the same)."""
    site = account.tenant.site
    mirrors = [
        MeterCreditMirror.objects.filter(account=account, point=point)
        .values_list("read_at", "reported", "expected", "drift")
        .first()
        for point in points
    ]
    drift_events = [
        list(
            MeterEvent.objects.filter(point=point, kind=EventKind.CREDIT_DRIFT)
            .order_by("pk")
            .values_list("at", "before", "after", "detail")
        )
        for point in points
    ]
    # The detail names the meter, whose number differs between twins.
    drift_events = [[event[:3] for event in events] for events in drift_events]
    prepaid = list(
        PrepaidEvent.objects.filter(account=account)
        .order_by("pk")
        .values_list("kind", "alarm", "balance", "point__fee_control")
    )
    state = PrepaidState.objects.filter(account=account).values_list("alarm", "balance").first()
    return {
        "mirrors": mirrors,
        "meter credit": [chart.balances(chart.meter_credit_ref(account, p))[0] for p in points],
        "revenue": chart.balances(chart.revenue_ref(site, "electricity"))[0],
        "drift events": drift_events,
        "prepaid events": prepaid,
        "prepaid state": state,
    }


@pytest.mark.django_db
def test_a_chunk_reconciles_as_each_point_alone_would():
    chunked = [build() for _ in range(3) for build in SITUATIONS]  # 30 accounts: two chunks
    alone = [build() for _ in range(3) for build in SITUATIONS]
    for round_ in (1, 2):
        if round_ == 2:
            for n, (_, points) in enumerate(chunked + alone):
                for point in points:
                    credit = SECOND[n % len(SITUATIONS)]
                    relay_reading(point, True, T0 + 3 * LATER, credit=credit)
        pairs = [(a.pk, p.pk) for a, points in chunked for p in points]
        assert len(reconcile_many.chunks(pairs)) == 2
        seen_chunked = {}
        for chunk in reconcile_many.chunks(pairs):
            with transaction.atomic():
                seen_chunked |= reconcile_many.reconcile_chunk(chunk, "reconcile")
        seen_alone = {
            (a.pk, p.pk): mirror.reconcile_point(a, p) for a, points in alone for p in points
        }

        for n, ((a, a_points), (b, b_points)) in enumerate(zip(chunked, alone, strict=True)):
            situation = SITUATIONS[n % len(SITUATIONS)].__name__
            assert _outcome(a, a_points) == _outcome(b, b_points), (round_, situation)
            for p, q in zip(a_points, b_points, strict=True):
                assert seen_chunked.get((a.pk, p.pk)) == seen_alone[(b.pk, q.pk)], situation
    # The situations did what their names say (so the comparison above compared something).
    by_name = {build.__name__: n for n, build in enumerate(SITUATIONS)}
    assert _outcome(*chunked[by_name["spending"]])["revenue"] == Decimal("39.00")
    assert len(_outcome(*chunked[by_name["drifting"]])["drift events"][0]) == 2
    assert _outcome(*chunked[by_name["clearing"]])["mirrors"] == [None]
    assert [e[1] for e in _outcome(*chunked[by_name["alarms_crossed"]])["prepaid events"]] == [2, 3]
    # The wallet's policy judges an account with a server-side point (0.00 left in the wallet
    # after the sale), not the meter's credit (5.00).
    assert _outcome(*chunked[by_name["also_server_side"]])["prepaid state"][1] == Decimal("0.00")
    assert ledger_problems() == []


def _spending_accounts(count):
    accounts = [_bought()[0] for _ in range(count)]
    for n, account in enumerate(accounts):
        point = account.links.get().metering_point
        relay_reading(point, True, T0 + LATER, credit=f"{60 + n}.00")
    return accounts


@pytest.mark.django_db
def test_a_chunk_costs_the_same_statements_for_5_points_as_for_20():
    counts = []
    for count in (5, 20):
        _spending_accounts(count)
        with CaptureQueriesContext(connection) as queries:
            assert mirror.reconcile_due() == count
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1], counts
    # The points due, then for the chunk: 8 reads after the account lock, 4 statements
    # posting the entries (2 more here: the sites' revenue accounts are used for the first
    # time), the alarm states read and written, the mirrors inserted and updated, and the
    # savepoints. Alone, each point took about 20.
    assert counts[1] <= 22, "\n".join(q["sql"][:150] for q in queries.captured_queries)
    assert JournalEntry.objects.filter(kind="meter-usage").count() == 25


@pytest.mark.django_db
def test_a_lost_mirror_books_no_reading_twice():
    account, _ = spending()
    mirror.reconcile_due()
    MeterCreditMirror.objects.all().delete()

    assert mirror.reconcile_due() == 1

    assert chart.balances(chart.revenue_ref(account.tenant.site, "electricity")) == [
        Decimal("30.00")
    ]
    assert MeterCreditMirror.objects.get().read_at == T0 + LATER
    assert JournalEntry.objects.filter(kind="meter-usage").count() == 1


@pytest.mark.django_db
def test_a_chunk_that_cannot_be_booked_whole_is_taken_point_by_point(monkeypatch, caplog):
    """As if another run used one reading's key between the check and the insert."""
    accounts = _spending_accounts(3)
    racing = accounts[1].links.get().metering_point
    credit.book_spending(  # 1.00 under the key the reading's 38.00 would take
        accounts[1],
        racing,
        Decimal("99.00"),
        "another run",
        {},
        idempotency_key=reconcile_many.usage_key(racing.pk, T0 + LATER),
    )
    monkeypatch.setattr(reconcile_many, "_used_keys", lambda keys: set())

    with caplog.at_level(logging.WARNING, logger="pems.billing.mirror"):
        assert mirror.reconcile_due() == 3

    assert MeterCreditMirror.objects.filter(account__in=[accounts[0], accounts[2]]).count() == 2
    assert not MeterCreditMirror.objects.filter(point=racing).exists()
    refused = [r for r in caplog.records if r.getMessage() == "meter credit not reconciled"]
    assert [(r.account, r.point) for r in refused] == [(accounts[1].pk, racing.pk)]
    assert "idempotency keys already used" in refused[0].reason
    assert JournalEntry.objects.filter(kind="meter-usage").count() == 3
    assert ledger_problems() == []


def test_an_account_is_never_split_between_chunks():
    pairs = [
        (account, point) for account in range(1, 26) for point in (account * 10, account * 10 + 1)
    ]
    cut = reconcile_many.chunks(pairs)
    assert [len({a for a, _ in chunk}) for chunk in cut] == [20, 5]
    assert sorted(pair for chunk in cut for pair in chunk) == sorted(pairs)
