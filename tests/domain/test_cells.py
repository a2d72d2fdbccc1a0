"""Pricing from cell summaries equals pricing every reading (the fast settlement path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pems.domain.cells import cells_from_readings, price_cells
from pems.domain.errors import UsageError
from pems.domain.pricing import MeterReading, intervals_from_readings, price
from pems.domain.quantities import kwh
from pems.domain.segments import cut_points
from pems.domain.tiers import CycleState
from pems.domain.tou import Rate
from tests.domain.helpers import FOUR_RATES, tariff
from tests.domain.test_properties import FLAT, TARIFFS

VERSIONED = tariff(
    FOUR_RATES
    + '\n[[versions]]\nid = "v2"\neffective_from = 2025-03-09\n'
    + "prices = { flat = 0.9, valley = 0.4 }\n"
    + "tiers = [{ up_to = 30, surcharge = 0 }, { surcharge = 0.2 }]\n",
    zone="America/New_York",
)
ALL = [*TARIFFS.values(), FLAT, VERSIONED]

# Steps between readings: mostly 15 minutes, sometimes on the hour exactly, sometimes odd
# seconds, sometimes an offline gap of hours or days.
steps = st.one_of(
    st.just(timedelta(minutes=15)),
    st.integers(1, 3 * 3600).map(lambda s: timedelta(seconds=s)),
    st.integers(1, 10**6).map(lambda us: timedelta(microseconds=us)),
    st.integers(1, 4 * 24).map(lambda h: timedelta(hours=h)),
)
readings_plan = st.lists(
    st.tuples(steps, st.integers(0, 4000), st.booleans()), min_size=0, max_size=60
)


def make_readings(start: datetime, plan, with_registers: bool) -> list[MeterReading]:
    at, total, valley = start, Decimal("1000.000"), Decimal("400.000")
    readings = [MeterReading(at, kwh(total), _registers(total, valley, with_registers))]
    for step, wh, into_valley in plan:
        at += step
        energy = Decimal(wh).scaleb(-3)
        total += energy
        if into_valley:
            valley += energy
        readings.append(MeterReading(at, kwh(total), _registers(total, valley, with_registers)))
    return readings


def _registers(total: Decimal, valley: Decimal, present: bool):
    return {Rate.VALLEY: kwh(valley), Rate.FLAT: kwh(total - valley)} if present else {}


@settings(max_examples=300, deadline=None)
@given(
    which=st.integers(0, len(ALL) - 1),
    offset=st.integers(0, 400 * 24 * 3600),
    plan=readings_plan,
    registers=st.booleans(),
    used=st.integers(0, 120),
)
def test_price_cells_equals_pricing_every_reading(which, offset, plan, registers, used):
    chosen = ALL[which]
    start = datetime(2025, 1, 2, tzinfo=UTC) + timedelta(seconds=offset)
    readings = make_readings(start, plan, registers)
    cycle_day = start.astimezone(chosen.zone).date().replace(day=1)
    cycle = CycleState(cycle_day, kwh(Decimal(used)))
    cuts = cut_points(start, readings[-1].at + timedelta(days=1), chosen)

    expected = price(intervals_from_readings(readings), chosen, cycle)
    actual = price_cells(readings[0], cells_from_readings(readings[1:], cuts), cuts, chosen, cycle)

    assert actual == expected


def test_a_hand_made_day_prices_in_four_cells():
    """Readings every 15 minutes for a day at 0.25 kWh each, Shanghai, FOUR_RATES:
    96 readings fall into the cells between the cuts 08, 10, 12, 14, 17, 19, 21, 22 h
    (and midnight), yet the charge is the one of pricing all 96 intervals."""
    chosen = TARIFFS["Asia/Shanghai"]
    start = datetime(2025, 6, 1, tzinfo=chosen.zone).astimezone(UTC)
    readings = [
        MeterReading(start + timedelta(minutes=15 * i), kwh(Decimal(i) / 4)) for i in range(97)
    ]
    cuts = cut_points(start, readings[-1].at + timedelta(hours=1), chosen)
    cells = cells_from_readings(readings[1:], cuts)
    assert len(cells) < 12
    expected = price(intervals_from_readings(readings), chosen)
    assert price_cells(readings[0], cells, cuts, chosen) == expected
    assert expected.energy == kwh(24)


def test_a_total_going_backwards_is_refused():
    chosen = FLAT
    start = datetime(2025, 6, 1, tzinfo=UTC)
    readings = [
        MeterReading(start, kwh(10)),
        MeterReading(start + timedelta(hours=1), kwh(12)),
        MeterReading(start + timedelta(days=2), kwh(3)),
    ]
    cuts = cut_points(start, start + timedelta(days=3), chosen)
    with pytest.raises(UsageError, match="go backwards"):
        price_cells(readings[0], cells_from_readings(readings[1:], cuts), cuts, chosen)
