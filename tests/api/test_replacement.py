"""Replacing a point's meter (换表) through the API: the console's exchange, within the
caller's sites and rights, refused cleanly, answered again on a retried key."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from pems.accounts.actions import balance
from pems.audit.models import AuditEvent
from pems.billing import actions
from pems.billing.models import SettlementCursor
from pems.billing.settlement import settle_point
from pems.control.models import Command, CommandKind
from pems.inventory.models import Meter, MeteringPoint
from pems.ledger import chart
from pems.ledger.verify import ledger_problems
from pems.metering.models import IntervalReading, PointState
from tests import factories
from tests.api.conftest import errors_of, world
from tests.billing.scenarios import server_side_tenant
from tests.ledger.scenarios import cny
from tests.threads import run_together


def url(point) -> str:
    return f"/api/points/{point.pk}/replacement"


SERVER_SIDE = {
    "new_meter_number": "555000000001",
    "old_final_total": "907.500",
    "new_initial_total": "0.200",
    "reason": "burnt terminal",
    "idempotency_key": "swap-1",
}
METER_SIDE = {
    "new_meter_number": "555000000002",
    "old_final_total": "50.000",
    "old_remaining_credit": "64.30",
    "new_initial_total": "0.000",
    "new_purchase_count": 3,
    "reason": "display dead",
    "idempotency_key": "swap-2",
}


def read(point, ago: dt.timedelta, total: str) -> None:
    at = timezone.now() - ago
    IntervalReading.objects.create(
        point=point, interval_start=at, read_at=at, energy_total=Decimal(total)
    )


@pytest.fixture
def north(db):
    """A server-side point at 1.00 a kWh, charged up to 900 kWh, read at 905 since; 100.00 sold."""
    site = factories.SiteFactory(name="North")
    account, point = server_side_tenant("1.00", site=site)
    actions.sell(account, cny("100.00"), "cash", "setup", "seed-north")
    read(point, dt.timedelta(hours=1), "900.000")
    settle_point(account, point)  # opens the cursor at 900 kWh
    read(point, dt.timedelta(minutes=30), "905.000")
    return account, point


@pytest.fixture
def east(db):
    """A meter-side point whose meter took a sale of 100.00 (purchase 1)."""
    site = factories.SiteFactory(name="East")
    account, point = server_side_tenant("1.00", fee_control="meter-side", site=site)
    _, push = actions.sell(account, cny("100.00"), "cash", "setup", "seed-east")
    Command.objects.filter(pk=push.pk).update(status="confirmed", completed_at=timezone.now())
    return account, point


def operator_of(point, as_user, role: str = "operator"):
    return as_user(factories.staff_user(role, point.meter.gateway.site))


def meters() -> list[tuple[str, dt.date | None]]:
    """Every meter's number and removal date."""
    return sorted(Meter.objects.values_list("number", "removed_on"), key=lambda m: m[0])


def test_a_server_side_exchange_charges_the_old_meter_up_to_its_final_total(north, as_user):
    account, point = north
    old = point.meter
    answer = operator_of(point, as_user).post(url(point), SERVER_SIDE)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    event = AuditEvent.objects.get(action="meter.replace", object_id=str(point.pk))
    replaced_at = dt.datetime.fromisoformat(body.pop("replaced_at"))
    assert abs(replaced_at - event.at) < dt.timedelta(milliseconds=1)
    assert body == {
        "point": point.pk,
        "old_meter": old.number,
        "new_meter": "555000000001",
        "charged": "7.50",  # 905 → 907.5 kWh at 1.00
        "carried_credit": None,
        "push_command": None,
        "currency": "CNY",
    }
    assert balance(account) == cny("92.50")
    point.refresh_from_db()
    assert point.meter.number == "555000000001"
    assert (point.meter.gateway_id, point.meter.address) == (old.gateway_id, old.address)
    old.refresh_from_db()
    assert old.removed_on == timezone.localdate()
    cursor = SettlementCursor.objects.get(account=account, point=point)
    assert cursor.last_total == Decimal("0.200")  # the new meter's baseline
    assert event.reason == "burnt terminal"
    assert event.changes["meter"] == [old.number, "555000000001"]
    assert event.changes["old_final_total"] == "907.500"
    assert event.changes["idempotency_key"] == "api:swap-1"
    assert not Command.objects.filter(point=point).exists()
    assert ledger_problems() == []


def test_a_meter_side_exchange_carries_the_credit_to_the_new_meter(east, as_user):
    account, point = east
    answer = operator_of(point, as_user).post(url(point), METER_SIDE)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    push = Command.objects.get(pk=body["push_command"])
    assert (body["charged"], body["carried_credit"], body["new_meter"]) == (
        None,
        "64.30",
        "555000000002",
    )
    new_meter = Meter.objects.get(number="555000000002")
    assert (push.kind, push.meter_id, push.status) == (
        CommandKind.PUSH_CREDIT,
        new_meter.pk,
        "pending",
    )
    assert (push.purchase_count, push.payload) == (4, {"amount": "64.30", "account": account.pk})
    assert PointState.objects.get(point=point).purchase_count == 3
    site = point.meter.gateway.site
    assert chart.revenue(site, "electricity").balance == Decimal("35.70")  # used on the old meter
    assert chart.meter_credit(account, point).balance == Decimal("64.30")
    assert ledger_problems() == []


def test_a_meter_side_exchange_needs_the_credit_left_on_the_old_meter(east, as_user):
    _account, point = east
    before, before_meters = world(), meters()
    body = {k: v for k, v in METER_SIDE.items() if k != "old_remaining_credit"}
    answer = operator_of(point, as_user).post(url(point), body)
    assert answer.status_code == 422
    assert errors_of(answer) == [
        ("old_remaining_credit", "Needed to carry the tenant's credit to the new meter.")
    ]
    assert (world(), meters()) == (before, before_meters)
    assert MeteringPoint.objects.get(pk=point.pk).meter_id == point.meter_id


def test_a_server_side_point_takes_no_meter_credit(north, as_user):
    _account, point = north
    before = world()
    answer = operator_of(point, as_user).post(
        url(point), {**SERVER_SIDE, "old_remaining_credit": "10.00"}
    )
    assert answer.status_code == 422
    assert errors_of(answer) == [
        ("old_remaining_credit", "A server-side meter holds no credit: leave this out.")
    ]
    assert world() == before


def test_the_same_key_again_answers_the_same_exchange_and_writes_nothing(north, as_user):
    account, point = north
    operator = operator_of(point, as_user)
    first = operator.post(url(point), SERVER_SIDE)
    assert first.status_code == 201, first.json()
    before, before_meters = world(), meters()
    again = operator.post(url(point), SERVER_SIDE)
    assert (again.status_code, again.json()) == (200, first.json())
    assert again.json()["charged"] == "7.50"  # read back from the exchange's audit event
    assert (world(), meters()) == (before, before_meters)
    assert AuditEvent.objects.filter(action="meter.replace").count() == 1
    assert Meter.objects.filter(number="555000000001").count() == 1
    assert balance(account) == cny("92.50")


def test_a_retried_meter_side_exchange_answers_its_credit_push(east, as_user):
    _account, point = east
    operator = operator_of(point, as_user)
    first = operator.post(url(point), METER_SIDE)
    assert first.status_code == 201, first.json()
    before = world()
    again = operator.post(url(point), METER_SIDE)
    assert (again.status_code, again.json()) == (200, first.json())
    assert world() == before
    assert Command.objects.filter(kind=CommandKind.PUSH_CREDIT, point=point).count() == 2


def test_the_same_key_for_another_meter_number_is_a_conflict(north, as_user):
    _account, point = north
    operator = operator_of(point, as_user)
    assert operator.post(url(point), SERVER_SIDE).status_code == 201
    before, before_meters = world(), meters()
    other = operator.post(url(point), {**SERVER_SIDE, "new_meter_number": "555000000009"})
    assert other.status_code == 409
    assert errors_of(other) == [
        ("idempotency_key", "This idempotency key was already used for a different request.")
    ]
    assert (world(), meters()) == (before, before_meters)
    assert MeteringPoint.objects.get(pk=point.pk).meter.number == "555000000001"


@pytest.mark.parametrize("found_by", ["the model check", "the database"])
def test_a_meter_number_already_installed_is_refused_and_nothing_changes(
    north, as_user, monkeypatch, found_by
):
    """The number installed elsewhere; "the database": a concurrent exchange installs it
    between full_clean and the insert."""
    account, point = north
    old_number = point.meter.number
    factories.MeterFactory(number="555000000001")  # installed elsewhere
    if found_by == "the database":
        monkeypatch.setattr(Meter, "full_clean", lambda self, *a, **k: None)
    before, before_meters = world(), meters()
    answer = operator_of(point, as_user).post(url(point), SERVER_SIDE)
    assert answer.status_code == 422
    assert errors_of(answer) == [
        ("new_meter_number", "Another installed meter has this meter number.")
    ]
    assert (world(), meters()) == (before, before_meters)
    assert Meter.objects.count() == 2
    point.refresh_from_db()
    assert (point.meter.number, point.meter.removed_on) == (old_number, None)
    assert SettlementCursor.objects.get(account=account, point=point).last_total == Decimal("900")
    assert balance(account) == cny("100.00")


def test_a_final_total_below_the_old_meters_last_reading_is_refused(north, as_user):
    _account, point = north
    before = world()
    answer = operator_of(point, as_user).post(url(point), {**SERVER_SIDE, "old_final_total": "90"})
    assert answer.status_code == 422
    assert errors_of(answer) == [
        (
            "old_final_total",
            "The old meter already reported 905.000: its final total cannot be lower.",
        )
    ]
    assert world() == before


def test_energy_totals_are_decimal_strings_never_negative(north, as_user):
    _account, point = north
    body = {**SERVER_SIDE, "old_final_total": 907.5, "new_initial_total": "-1"}
    answer = operator_of(point, as_user).post(url(point), {**body, "new_purchase_count": -1})
    assert answer.status_code == 422
    assert errors_of(answer) == [
        ("old_final_total", 'must be a decimal string such as "100.00", not a JSON number'),
        ("new_initial_total", "Energy registers cannot be negative."),
        ("new_purchase_count", "Input should be greater than or equal to 0"),
    ]


def test_a_circuit_of_a_multi_circuit_box_is_not_replaced_alone(db, as_user):
    site = factories.SiteFactory(name="Box")
    box = factories.MeterFactory(
        gateway__site=site, address=10, address_count=3, model=factories.catalogue_model("ADF300")
    )
    point = factories.MeteringPointFactory(meter=box, circuit=2)
    before = world()
    answer = operator_of(point, as_user).post(url(point), SERVER_SIDE)
    assert answer.status_code == 409
    assert errors_of(answer) == [
        ("point", "A multi-circuit box is replaced as a box, not one circuit.")
    ]
    assert world() == before
    assert Meter.objects.get(pk=box.pk).removed_on is None


def test_a_cashier_may_not_replace_a_meter(north, as_user):
    _account, point = north
    before, before_meters = world(), meters()
    answer = operator_of(point, as_user, "cashier").post(url(point), SERVER_SIDE)
    assert answer.status_code == 403
    assert (world(), meters()) == (before, before_meters)


def test_another_sites_operator_finds_no_such_point(north, as_user):
    _account, point = north
    south = factories.SiteFactory(name="South")
    stranger = as_user(factories.staff_user("operator", south))
    before, before_meters = world(), meters()
    answer = stranger.post(url(point), SERVER_SIDE)
    assert answer.status_code == 404
    assert errors_of(answer) == [(None, f"Metering point {point.pk} not found.")]
    assert (world(), meters()) == (before, before_meters)


def test_an_anonymous_caller_is_refused(north):
    _account, point = north
    before = world()
    answer = Client().post(url(point), SERVER_SIDE, content_type="application/json")
    assert answer.status_code == 401
    assert world() == before


@pytest.mark.django_db(transaction=True)
def test_the_same_exchange_sent_four_times_at_once_replaces_once(as_user):
    """Real threads on their own connections: the account and point locks queue them."""
    site = factories.SiteFactory(name="West")
    account, point = server_side_tenant("1.00", site=site)
    read(point, dt.timedelta(hours=1), "900.000")
    settle_point(account, point)
    operator = operator_of(point, as_user)
    answers = run_together([lambda: operator.post(url(point), SERVER_SIDE)] * 4)
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({str(a.json()) for a in answers}) == 1
    assert answers[0].json()["charged"] == "7.50"  # 900 → 907.5 kWh, once
    assert balance(account) == cny("-7.50")
    assert Meter.objects.filter(number="555000000001").count() == 1
    assert AuditEvent.objects.filter(action="meter.replace").count() == 1
    assert ledger_problems() == []
