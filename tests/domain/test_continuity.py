"""Falling totals made continuous: misreads passed over, register wraps counted on, the rest
stopped (``pems.domain.continuity``).

Worked example of a wrap, a DL/T 645 meter (register ``XXXXXX.XX`` kWh: range
1,000,000.00): 999,999.20 at 00:00, then 0.40 at 00:15 and 1.00 at 06:15. The
fall lasted past the misread window and went from the top of the register to
near zero; it means 1,000,000.00 − 999,999.20 + 0.40 = 1.20 kWh in 15 minutes,
4.8 kWh/h, under 3 × the point's fastest use before (2 kWh/h). So the later
totals are counted on: 1,000,000.40 and 1,000,001.00, 1.80 kWh in all, and the
cursor goes to 1.00, the total as the meter reports it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pems.domain.continuity import MISREAD_WINDOW, continuous, falls, is_wrap
from pems.domain.pricing import MeterReading
from pems.domain.quantities import Quantity, Unit
from pems.domain.tou import Rate

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DLT645 = Decimal("1000000.00")


def at(minutes: float, total: str | Decimal, **registers: str) -> MeterReading:
    return MeterReading(
        T0 + timedelta(minutes=minutes),
        Quantity(Decimal(total), Unit.KWH),
        {Rate(name): Quantity(Decimal(v), Unit.KWH) for name, v in registers.items()},
    )


def totals(readings):
    return [r.total.amount for r in readings]


def fast(_at):
    return Decimal("2")


def never(_at):
    raise AssertionError("the fastest use is asked only at a fall near the register's top")


def test_a_misread_of_zeros_is_passed_over_and_the_next_good_reading_carries_the_usage():
    history = [at(0, "100.00"), at(15, "101.00"), at(30, "0.00"), at(45, "0.00"), at(60, "103.50")]
    made = continuous(history, DLT645, never)
    assert totals(made.readings) == [Decimal("100.00"), Decimal("101.00"), Decimal("103.50")]
    assert (made.last, made.fall, made.passed_over, made.wraps) == (history[-1], None, 2, 0)


def test_a_fall_younger_than_the_window_waits_and_what_came_before_it_is_kept():
    history = [at(0, "100.00"), at(15, "101.00"), at(30, "0.00"), at(60, "0.50")]
    made = continuous(history, DLT645, never)
    assert totals(made.readings) == [Decimal("100.00"), Decimal("101.00")]
    assert made.last == history[1]
    assert (made.fall.before, made.fall.after, made.fall.lasting) == (history[1], history[2], False)


def test_a_lasting_fall_in_the_middle_of_the_register_stops_there():
    later = MISREAD_WINDOW / timedelta(minutes=1) + 30
    history = [at(0, "500.00"), at(15, "502.00"), at(30, "0.50"), at(later, "9.00")]
    made = continuous(history, DLT645, never)
    assert totals(made.readings) == [Decimal("500.00"), Decimal("502.00")]
    assert made.fall.lasting
    assert "not from near the top of its register (range 1000000.00 kWh)" in made.fall.not_a_wrap
    unknown = continuous(history, None, never)
    assert unknown.fall.not_a_wrap == "the meter's register range is not known"


def test_the_worked_wrap_is_counted_on_and_the_cursor_keeps_the_meters_own_total():
    history = [at(0, "999999.20"), at(15, "0.40"), at(375, "1.00")]
    made = continuous(history, DLT645, fast)
    assert totals(made.readings) == [
        Decimal("999999.20"),
        Decimal("1000000.40"),
        Decimal("1000001.00"),
    ]
    assert made.readings[-1].total.amount - made.readings[0].total.amount == Decimal("1.80")
    assert (made.last, made.fall, made.wraps) == (history[-1], None, 1)


def test_a_final_total_read_by_a_person_judges_a_young_fall_at_once():
    """An exchange 15 minutes after the worked wrap: the electrician reads 0.70 off the old
    register. The meter will not come back (it is being removed), so the fall is judged now:
    a wrap, 1.50 kWh in all. Without the person's reading the same history waits."""
    history = [at(0, "999999.20"), at(15, "0.40"), at(30, "0.70")]
    assert continuous(history, DLT645, fast).fall.lasting is False
    made = continuous(history, DLT645, fast, witnessed_last=True)
    assert totals(made.readings) == [
        Decimal("999999.20"),
        Decimal("1000000.40"),
        Decimal("1000000.70"),
    ]
    assert (made.last, made.fall, made.wraps) == (history[-1], None, 1)
    # A final total below the meter's last reading after the wrap is a fall it stops at.
    lower = continuous([*history[:2], at(30, "0.30")], DLT645, fast, witnessed_last=True)
    assert (lower.last, lower.fall.lasting) == (history[1], True)
    assert "not from near the top" in lower.fall.not_a_wrap


def test_a_reset_near_the_top_is_not_charged_as_a_huge_use():
    # 950,000 → 0.40 would be 50,000.40 kWh in 15 minutes: a reset or another meter.
    history = [at(0, "950000.00"), at(15, "0.40"), at(375, "1.00")]
    made = continuous(history, DLT645, fast)
    assert totals(made.readings) == [Decimal("950000.00")]
    assert made.fall.lasting
    assert "a wrap would mean 50000.40 kWh in 0.25 h" in made.fall.not_a_wrap
    assert "(2 kWh/h)" in made.fall.not_a_wrap
    # A point that used nothing the week before has no pace to hold a wrap to.
    idle = continuous([at(0, "999999.99"), at(15, "0.01"), at(375, "0.01")], DLT645, lambda _: None)
    assert "(0 kWh/h)" in idle.fall.not_a_wrap


def test_a_meter_idle_the_week_before_is_held_to_its_pace_since_the_fall():
    # Nothing used before; 0.20 kWh a quarter hour since (0.8 kWh/h). Across the wrap
    # 999,999.90 → 0.20 is 0.30 kWh in 15 minutes, 1.2 kWh/h: under 3 × 0.8.
    since = [at(15 * n, Decimal("0.20") * n) for n in range(1, 30)]
    made = continuous([at(0, "999999.90"), *since], DLT645, lambda _: None)
    assert (made.fall, made.wraps) == (None, 1)
    assert made.readings[-1].total.amount == Decimal("1000005.80")  # 29 × 0.20 past the wrap


def test_tou_registers_wrap_on_their_own_after_the_total():
    history = [
        at(0, "999999.00", peak="999998.00", valley="1.00"),
        at(400, "0.50", peak="999999.40", valley="1.10"),  # the total wrapped
        at(800, "1.50", peak="0.40", valley="1.10"),  # now the peak register too
        at(1200, "2.00", peak="0.90", valley="1.10"),
    ]
    made = continuous(history, DLT645, fast)
    assert made.fall is None
    assert made.wraps == 1
    peak = [r.registers[Rate.PEAK].amount for r in made.readings]
    assert peak == [*map(Decimal, ["999998.00", "999999.40", "1000000.40", "1000000.90"])]


def test_a_misread_near_the_top_is_not_taken_for_a_wrap():
    # A zero answered at 999,999.90 looks like a wrap by its values; the meter coming
    # back shows it was not, and nothing is counted on.
    history = [at(0, "999999.80"), at(15, "0.00"), at(30, "999999.90"), at(400, "999999.95")]
    made = continuous(history, DLT645, fast)
    assert totals(made.readings) == [
        Decimal("999999.80"),
        Decimal("999999.90"),
        Decimal("999999.95"),
    ]
    assert (made.passed_over, made.wraps) == (1, 0)


def test_a_history_falls_when_its_total_or_one_register_does():
    assert not falls([at(0, "1.00", peak="1.00"), at(15, "1.00", peak="1.00"), at(30, "2")])
    assert falls([at(0, "5.00"), at(15, "4.99")])
    assert falls([at(0, "5.00", peak="3.00"), at(15, "6.00", peak="2.00")])


def test_is_wrap_needs_the_top_and_the_bottom_of_the_range():
    assert is_wrap(Decimal("900000.00"), Decimal("99999.99"), DLT645)
    assert not is_wrap(Decimal("899999.99"), Decimal("0"), DLT645)
    assert not is_wrap(Decimal("999999.99"), Decimal("100000.00"), DLT645)
    assert not is_wrap(Decimal("5"), Decimal("6"), DLT645)
    # A total the register cannot hold (another model's meter?) is no wrap of it.
    assert not is_wrap(Decimal("2500000.00"), Decimal("1.00"), DLT645)


@settings(max_examples=200, deadline=None)
@given(
    start=st.one_of(st.integers(10**8 - 30_000, 10**8 - 1), st.integers(0, 10**8 - 1)),
    steps=st.lists(
        st.tuples(st.integers(0, 300), st.booleans()),  # (0.01 kWh used, a misread after it)
        min_size=1,
        max_size=40,
    ),
)
def test_every_unit_is_counted_once_through_wraps_and_misreads(start, steps):
    """A DL/T 645 register read every 6 hours (so no fall waits) with zeros answered at
    random: what the readings price is exactly what the meter counted."""
    cents = DLT645 * 100
    used, history, minutes = 0, [at(0, Decimal(start) / 100)], 0
    for step, misread in steps:
        used += step
        minutes += 360
        history.append(at(minutes, Decimal((start + used) % cents) / 100))
        if misread:
            minutes += 1
            history.append(at(minutes, "0.00"))
    history.append(at(minutes + 360, Decimal((start + used) % cents) / 100))  # back, if misread
    made = continuous(history, DLT645, lambda _: Decimal(10**6))
    assert made.fall is None
    assert made.readings[-1].total.amount - made.readings[0].total.amount == Decimal(used) / 100
    assert made.last.total.amount == Decimal((start + used) % cents) / 100
