"""The simulated meter's own prepaid logic, on a manual clock and a flat 1 kW load."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pems.devices.errors import PurchaseReason
from pems.sim.clock import MS_PER_HOUR, ManualClock
from pems.sim.meter import RelayMode, SimMeter
from pems.sim.profile import PROFILE, LoadProfile
from pems.siteplan import AreaKind, FeeControl, Location, MeterPoint, ModelCode, Prices
from tests.sim.conftest import MIDNIGHT_SHANGHAI

#: 1 kW all day; Shanghai hours 0–6 valley, 7 flat, 8 peak, 9 sharp, then flat.
FLAT_1KW = LoadProfile(
    utc_offset_ms=8 * MS_PER_HOUR,
    shape=(100,) * 24,
    tou=(4, 4, 4, 4, 4, 4, 4, 3, 2, 1, *(3,) * 14),
    day_factor=(100, 100),
    base_load=dict.fromkeys(ModelCode, (1000, 1000)),
)
PRICES = Prices(Decimal("2.0000"), Decimal("1.0000"), Decimal("0.7000"), Decimal("0.5000"))
HOUR = dt.timedelta(hours=1)


def point(credit: str = "100.00", **changes: object) -> MeterPoint:
    base = MeterPoint(
        address=1,
        meter_number="000000000042",
        model=ModelCode.DTSY1352_NK,
        location=Location(AreaKind.BUILDING, "A", "1F", "101"),
        fee_control=FeeControl.METER_SIDE,
        prices=PRICES,
        initial_credit=Decimal(credit),
        alarm1=Decimal("50.00"),
        alarm2=Decimal("20.00"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def meter_on(clock: ManualClock, credit: str = "100.00", **changes: object) -> SimMeter:
    return SimMeter(point(credit, **changes), clock, FLAT_1KW)


def test_energy_accumulates_into_the_tou_register_of_each_hour(clock: ManualClock) -> None:
    clock.advance(6 * HOUR)  # 00:00 → 06:00 valley
    meter = meter_on(clock)
    clock.advance(4 * HOUR)  # 06 valley, 07 flat, 08 peak, 09 sharp
    snap = meter.snapshot()
    assert snap.energy_total == Decimal("4.000")
    assert snap.energy_tou == (Decimal("1.000"),) * 4
    # 2.00 + 1.00 + 0.70 + 0.50
    assert snap.credit == Decimal("95.80")


def test_credit_falls_by_the_price_and_alarms_follow_thresholds(clock: ManualClock) -> None:
    meter = meter_on(clock, credit="51.00")
    assert not meter.snapshot().alarm1
    clock.advance(4 * HOUR)  # valley at 0.50/kWh → 49.00
    snap = meter.snapshot()
    assert (snap.credit, snap.alarm1, snap.alarm2, snap.arrears) == (
        Decimal("49.00"),
        True,
        False,
        False,
    )
    clock.advance(58 * HOUR)
    snap = meter.snapshot()
    assert snap.alarm2
    assert snap.credit <= Decimal("20.00")


def test_meter_trips_itself_exactly_when_credit_runs_out(clock: ManualClock) -> None:
    meter = meter_on(clock, credit="1.00")  # 0.50/kWh at 1 kW → 2 hours
    clock.advance(5 * HOUR)
    snap = meter.snapshot()
    assert snap.energy_total == Decimal("2.000")
    assert snap.credit == Decimal("0.00")
    assert (snap.relay_closed, snap.credit_tripped, snap.arrears, snap.trip_count) == (
        False,
        True,
        True,
        1,
    )
    assert snap.power_w == 0
    clock.advance(5 * HOUR)
    assert meter.snapshot().energy_total == Decimal("2.000")


def test_overdraft_limit_lets_credit_go_negative_before_the_trip(clock: ManualClock) -> None:
    meter = meter_on(clock, credit="1.00", overdraft_limit=Decimal("1.00"))
    clock.advance(6 * HOUR)
    snap = meter.snapshot()
    assert (snap.energy_total, snap.credit, snap.relay_closed) == (
        Decimal("4.000"),
        Decimal("-1.00"),
        False,
    )


def test_keep_power_consumes_into_arrears_and_resume_trips(clock: ManualClock) -> None:
    meter = meter_on(clock, credit="1.00")
    meter.control(force=True, trip=False)  # [1,0] keep-power
    clock.advance(4 * HOUR)
    snap = meter.snapshot()
    assert (snap.relay_closed, snap.credit, snap.arrears) == (True, Decimal("-1.00"), True)
    assert snap.relay_mode is RelayMode.KEEP_POWER
    meter.control(force=False, trip=False)  # [0,x] resume prepaid
    snap = meter.snapshot()
    assert (snap.relay_closed, snap.trip_count) == (False, 1)


def test_forced_trip_stops_consumption_and_resume_recloses(clock: ManualClock) -> None:
    meter = meter_on(clock)
    meter.control(force=True, trip=True)
    clock.advance(3 * HOUR)
    snap = meter.snapshot()
    assert (snap.relay_closed, snap.energy_total, snap.trip_count) == (False, Decimal("0.000"), 0)
    meter.control(force=False, trip=True)
    clock.advance(HOUR)
    assert meter.snapshot().relay_closed
    assert meter.snapshot().energy_total == Decimal("1.000")


def test_purchase_after_self_trip_pays_the_debt_and_recloses(clock: ManualClock) -> None:
    meter = meter_on(clock, credit="1.00", overdraft_limit=Decimal("1.00"))
    clock.advance(6 * HOUR)
    result = meter.purchase(Decimal("10.00"), 1, mac_valid=True)
    assert result.accepted
    assert result.purchase_count == 1
    assert result.credit == Decimal("9.00")
    assert meter.snapshot().relay_closed


@pytest.mark.parametrize(
    ("count", "mac_valid", "amount", "reason"),
    [
        (4, True, "10.00", None),
        (3, True, "10.00", PurchaseReason.DUPLICATE),
        (2, True, "10.00", PurchaseReason.DUPLICATE),
        (5, True, "10.00", PurchaseReason.COUNT_ERROR),
        (4, False, "10.00", PurchaseReason.MAC_FAILED),
        (4, True, "950.01", PurchaseReason.HOARDING_EXCEEDED),
        (4, True, "900.00", None),
    ],
)
def test_purchase_is_checked_as_a_meter_does(
    clock: ManualClock, count: int, mac_valid: bool, amount: str, reason: PurchaseReason | None
) -> None:
    meter = meter_on(clock, credit="50.00", hoarding_limit=Decimal("1000.00"))
    for n in (1, 2, 3):
        assert meter.purchase(Decimal("0.00"), n, mac_valid=True).accepted
    result = meter.purchase(Decimal(amount), count, mac_valid=mac_valid)
    assert result.reason is reason
    expected_count, expected_credit = (
        (4, Decimal(50) + Decimal(amount)) if reason is None else (3, Decimal(50))
    )
    assert (result.purchase_count, result.credit) == (expected_count, expected_credit)
    assert meter.snapshot().last_purchase == ("accepted" if reason is None else reason.value)


def test_server_side_meter_refuses_credit_and_never_trips(clock: ManualClock) -> None:
    meter = meter_on(clock, credit="0.00", fee_control=FeeControl.SERVER_SIDE)
    assert (
        meter.purchase(Decimal("5.00"), 1, mac_valid=True).reason is PurchaseReason.FEE_CONTROL_OFF
    )
    clock.advance(3 * HOUR)
    snap = meter.snapshot()
    assert (snap.relay_closed, snap.energy_total, snap.arrears) == (True, Decimal("3.000"), False)


def test_customer_number_is_fixed_by_the_first_purchase(clock: ManualClock) -> None:
    meter = meter_on(clock)
    assert meter.purchase(Decimal("1.00"), 1, mac_valid=True, customer_number=77).accepted
    second = meter.purchase(Decimal("1.00"), 2, mac_valid=True, customer_number=78)
    assert second.reason is PurchaseReason.CUSTOMER_MISMATCH


def test_replacement_brings_fresh_registers(clock: ManualClock) -> None:
    meter = meter_on(clock)
    meter.purchase(Decimal("10.00"), 1, mac_valid=True)
    clock.advance(2 * HOUR)
    meter.replace("000000000099")
    snap = meter.snapshot()
    assert (snap.meter_number, snap.energy_total, snap.purchase_count) == ("000000000099", 0, 0)
    assert snap.credit == 0
    assert not snap.relay_closed


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=0, max_value=5 * MS_PER_HOUR), min_size=1, max_size=12),
    credit=st.integers(min_value=0, max_value=20_000),
)
def test_lazy_evaluation_in_one_step_equals_many_steps(steps: list[int], credit: int) -> None:
    """Reading often or rarely never changes the meter's history (real profile, trips included)."""
    start = MIDNIGHT_SHANGHAI + dt.timedelta(minutes=17)
    money = Decimal(credit).scaleb(-2)
    often_clock, rare_clock = ManualClock(start), ManualClock(start)
    often = SimMeter(point(str(money)), often_clock, PROFILE)
    rare = SimMeter(point(str(money)), rare_clock, PROFILE)
    for step in steps:
        often_clock.advance(dt.timedelta(milliseconds=step))
        often.snapshot()
    rare_clock.advance(dt.timedelta(milliseconds=sum(steps)))
    assert often.snapshot() == rare.snapshot()
