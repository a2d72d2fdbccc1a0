"""What integrators read: live point state, readings, events, commands; no floats anywhere."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from pems.accounts.actions import balance, open_account
from pems.billing.actions import sell
from pems.billing.models import PrepaidEvent
from pems.control.actions import enqueue
from pems.domain.money import Money
from pems.metering.models import IntervalReading, MeterEvent, PointState
from tests import factories
from tests.api.conftest import errors_of, world

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


@pytest.fixture
def reader(north, as_user):
    return as_user(factories.staff_user("readonly", north.site))


def no_floats(value):
    """True when no JSON number in ``value`` has a fraction (money and energy are strings)."""
    return json.loads(json.dumps(value), parse_float=lambda text: pytest.fail(text)) is not None


def test_a_point_shows_its_live_state_and_prepaid_balance(reader, north):
    PointState.objects.create(
        point=north.point,
        read_at=T0,
        energy_total=Decimal("1234.567"),
        relay_closed=True,
        voltage_a=Decimal("229.8"),
        active_power=Decimal("3.250"),
        online=True,
    )
    body = reader.get(f"/api/points/{north.point.pk}").json()
    assert body["state"]["energy_total"] == "1234.567"
    assert body["state"]["voltage_a"] == "229.8"
    assert body["state"]["energy_peak"] is None  # not reported is null, never zero
    assert body["prepaid"] == {
        "account": north.account.pk,
        "balance": "100.00",
        "currency": "CNY",
        "alarm_level": 0,
        "keep_power": False,
    }
    assert body["room"]["name"] == "North-101"
    assert no_floats(body)


def test_points_filter_by_room_meter_and_state(reader, north):
    other = factories.MeteringPointFactory(meter__gateway__site=north.site)
    PointState.objects.create(point=other, online=False)
    assert [p["id"] for p in reader.get("/api/points", room="north-101").json()["items"]] == [
        north.point.pk
    ]
    by_meter = reader.get("/api/points", meter=other.meter.number).json()["items"]
    assert [p["id"] for p in by_meter] == [other.pk]
    assert [p["id"] for p in reader.get("/api/points", online=False).json()["items"]] == [other.pk]
    floor = north.point.room.parent
    assert reader.get("/api/points", location=floor.pk).json()["count"] == 1


def test_readings_come_oldest_first_within_the_range_a_page_at_a_time(reader, north):
    for n in range(6):
        start = T0 + dt.timedelta(minutes=15 * n)
        IntervalReading.objects.create(
            point=north.point, interval_start=start, read_at=start, energy_total=Decimal(n)
        )
    page = reader.get(
        "/api/readings",
        point=north.point.pk,
        since=(T0 + dt.timedelta(minutes=15)).isoformat(),
        until=(T0 + dt.timedelta(minutes=75)).isoformat(),
        limit=2,
        offset=1,
    ).json()
    assert page["count"] == 4
    assert [r["energy_total"] for r in page["items"]] == ["2.000", "3.000"]


def test_a_page_is_at_most_500_items(reader):
    response = reader.get("/api/points", limit=501)
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "limit"


def test_events_of_both_kinds_come_newest_first(reader, north):
    MeterEvent.objects.create(point=north.point, kind="offline", at=T0, detail="no answer")
    PrepaidEvent.objects.create(
        account=north.account,
        kind="alarm_raised",
        alarm=1,
        balance=Decimal("45.00"),
        reason="NONE -> ALARM_1",
        at=T0 + dt.timedelta(minutes=1),
    )
    MeterEvent.objects.create(point=north.point, kind="online", at=T0 + dt.timedelta(minutes=2))
    since = (T0 - dt.timedelta(days=1)).isoformat()
    body = reader.get("/api/events", since=since).json()
    assert body["count"] == 3
    assert [(e["source"], e["kind"]) for e in body["items"]] == [
        ("meter", "online"),
        ("prepaid", "alarm_raised"),
        ("meter", "offline"),
    ]
    assert body["items"][1]["balance"] == "45.00"
    assert reader.get("/api/events", since=since, source="meter").json()["count"] == 2
    second = reader.get("/api/events", since=since, limit=1, offset=1).json()["items"]
    assert [e["kind"] for e in second] == ["alarm_raised"]


def test_account_balances_in_lists_match_the_ledger(reader, north):
    listed = reader.get("/api/accounts").json()["items"]
    assert [a["balance"] for a in listed] == [str(balance(north.account).amount)]
    assert reader.get("/api/accounts", meter=north.point.meter.number).json()["count"] == 1
    assert reader.get("/api/accounts", status="closed").json()["count"] == 0


def test_an_operator_cancels_a_pending_command_but_not_a_sent_one(north, as_user):
    operator = as_user(factories.staff_user("operator", north.site))
    queued = operator.post(
        "/api/commands",
        {
            "point": north.point.pk,
            "kind": "keep_power_on",
            "reason": "hospital",
            "idempotency_key": "kp-1",
        },
    )
    assert queued.status_code == 201
    replay = operator.post(
        "/api/commands",
        {
            "point": north.point.pk,
            "kind": "keep_power_on",
            "reason": "hospital",
            "idempotency_key": "kp-1",
        },
    )
    assert (replay.status_code, replay.json()["id"]) == (200, queued.json()["id"])
    cancelled = operator.post(
        f"/api/commands/{queued.json()['id']}/cancel", {"reason": "not needed"}
    )
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "failed")
    assert cancelled.json()["failure_reason"] == "cancelled"

    sent = enqueue(north.point, "trip", actor="setup")
    sent.status = "sent"
    sent.save()
    before = world()
    refused = operator.post(f"/api/commands/{sent.pk}/cancel", {"reason": "too late"})
    assert refused.status_code == 409
    assert "only a pending command" in errors_of(refused)[0][1]
    assert world() == before


def test_a_credit_push_is_not_cancelled_through_the_api(db, as_user):
    from tests.api.conftest import tenancy

    shop = tenancy("East", fee_control="meter-side")
    operator = as_user(factories.staff_user("operator", shop.site))
    push = shop.point.commands.get(kind="push_credit")
    before = world()
    refused = operator.post(f"/api/commands/{push.pk}/cancel", {"reason": "x"})
    assert refused.status_code == 409
    assert "reverse the sale" in errors_of(refused)[0][1]
    assert world() == before


def test_commands_list_filters_by_status_and_meter(north, as_user):
    operator = as_user(factories.staff_user("operator", north.site))
    enqueue(north.point, "trip", actor="setup")
    listed = operator.get("/api/commands", status="pending", meter=north.point.meter.number)
    assert [c["kind"] for c in listed.json()["items"]] == ["trip"]
    assert operator.get("/api/commands", status="confirmed").json()["count"] == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/points",
        "/api/accounts",
        "/api/meters",
        "/api/tenants",
        "/api/recharges",
        "/api/commands",
    ],
)
def test_a_page_costs_the_same_queries_for_one_row_or_many(north, as_user, path):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(factories.staff_user("operator", north.site))

    def cost() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    cost()  # the first request also notes the token's use
    one = cost()
    for n in range(4):
        room = factories.RoomFactory(site=north.site)
        point = factories.MeteringPointFactory(meter__gateway__site=north.site, room=room)
        account = open_account(factories.TenantFactory(site=north.site, room=room), [point], "t")
        sell(account, Money.of("5.00", "CNY"), "cash", "t", f"many-{n}")
        enqueue(point, "trip", actor="t")
    assert cost() == one
