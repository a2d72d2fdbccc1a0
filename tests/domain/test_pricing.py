"""Worked pricing examples, each computed by hand in the comments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from pems.domain.charges import EnergyLine
from pems.domain.errors import TariffNotInForceError, UnitMismatchError, UsageError
from pems.domain.money import D, Money
from pems.domain.pricing import MeterReading, UsageInterval, intervals_from_readings, price
from pems.domain.quantities import kwh, m3
from pems.domain.tariff_file import load_tariff
from pems.domain.tiers import CycleState
from pems.domain.tou import Rate
from tests.domain.helpers import FOUR_RATES, LONDON, NEW_YORK, SHANGHAI, interval, tariff

EXAMPLES = Path(__file__).parents[2] / "src" / "pems" / "examples" / "tariffs"


def cny(text: str) -> Money:
    return Money.of(text, "CNY")


def by_rate(lines: Iterable[EnergyLine]) -> dict[Rate, Decimal]:
    """Quantity per rate, whatever the cycle, version or tier."""
    result: dict[Rate, Decimal] = {}
    for line in lines:
        result[line.rate] = result.get(line.rate, Decimal(0)) + line.quantity.amount
    return result


def test_four_rate_day_and_line_rounding() -> None:
    # 24 kWh spread evenly over 2025-08-14 (1 kWh per hour):
    #   valley 22-08  10 h -> 10 kWh x 0.2981 = 2.981  -> 2.98
    #   flat   08-10, 14-17  5 h -> 5 x 0.6632 = 3.316 -> 3.32
    #   peak   10-12, 20-22  4 h -> 4 x 1.1053 = 4.4212 -> 4.42
    #   sharp  12-14, 17-20  5 h -> 5 x 1.3512 = 6.756 -> 6.76
    # Total = sum of rounded lines = 17.48, while the exact sum 17.4742 would round to 17.47.
    charges = price(
        [
            interval(
                datetime(2025, 8, 14, tzinfo=SHANGHAI), datetime(2025, 8, 15, tzinfo=SHANGHAI), "24"
            )
        ],
        tariff(FOUR_RATES),
    )
    amounts = {line.rate: line.amount for line in charges.energy_lines}
    assert by_rate(charges.energy_lines) == {
        Rate.SHARP: 5,
        Rate.PEAK: 4,
        Rate.FLAT: 5,
        Rate.VALLEY: 10,
    }
    assert amounts == {
        Rate.SHARP: cny("6.76"),
        Rate.PEAK: cny("4.42"),
        Rate.FLAT: cny("3.32"),
        Rate.VALLEY: cny("2.98"),
    }
    assert charges.total == cny("17.48")
    assert charges.exact_total == D("17.4742")


TIERED = """
[[versions]]
id = "t"
effective_from = 2025-01-01
prices = { flat = 0.5583 }
tiers = [{ up_to = 100, surcharge = 0 }, { up_to = 200, surcharge = 0.05 }, { surcharge = 0.30 }]
"""


def test_tier_boundary_crossed_inside_one_interval() -> None:
    # 95 kWh already billed this month; 10 kWh more: 5 kWh fill tier 1 (to 100) at 0.5583
    # = 2.7915 -> 2.79, 5 kWh in tier 2 at 0.5583 + 0.05 = 0.6083 -> 3.0415 -> 3.04.
    state = CycleState(date(2025, 3, 1), kwh("95"))
    charges = price(
        [
            interval(
                datetime(2025, 3, 5, 9, tzinfo=SHANGHAI),
                datetime(2025, 3, 5, 10, tzinfo=SHANGHAI),
                "10",
            )
        ],
        tariff(TIERED),
        state,
    )
    assert [(line.tier, line.quantity, line.amount) for line in charges.energy_lines] == [
        (1, kwh(5), cny("2.79")),
        (2, kwh(5), cny("3.04")),
    ]
    assert charges.cycle == CycleState(date(2025, 3, 1), kwh("105"))


def test_tier_usage_resets_at_the_local_cycle_start() -> None:
    # 250 kWh used in March; an interval 23:00 31 Mar - 01:00 1 Apr (site time) of 2 kWh:
    # 1 kWh in March in tier 3 (0.8583) and 1 kWh in April in tier 1 (0.5583).
    state = CycleState(date(2025, 3, 1), kwh("250"))
    charges = price(
        [
            interval(
                datetime(2025, 3, 31, 23, tzinfo=SHANGHAI),
                datetime(2025, 4, 1, 1, tzinfo=SHANGHAI),
                "2",
            )
        ],
        tariff(TIERED),
        state,
    )
    assert [(line.cycle, line.tier, line.quantity) for line in charges.energy_lines] == [
        (date(2025, 3, 1), 3, kwh(1)),
        (date(2025, 4, 1), 1, kwh(1)),
    ]
    assert charges.total == cny("1.42")  # 0.8583 + 0.5583 = 1.4166 -> 0.86 + 0.56
    assert charges.cycle == CycleState(date(2025, 4, 1), kwh("1"))
    with pytest.raises(UsageError, match="older than the cycle state"):
        price(
            [
                interval(
                    datetime(2025, 2, 3, tzinfo=SHANGHAI),
                    datetime(2025, 2, 4, tzinfo=SHANGHAI),
                    "1",
                )
            ],
            tariff(TIERED),
            state,
        )


def test_price_change_at_midnight_on_the_15th_mid_cycle() -> None:
    # versioned.toml: 0.80 (tier 2 +0.10 over 150 kWh) until 2025-08-15 00:00, then 0.90
    # (tier 2 +0.15). 140 kWh already billed in August; 24 kWh at 1 kWh/h from 14th 12:00:
    #   old version, 12 kWh: 10 kWh tier 1 x 0.80 = 8.00; 2 kWh tier 2 x 0.90 = 1.80
    #   new version, 12 kWh: all tier 2 (accumulation continues at 152) x 1.05 = 12.60
    #   meter rental: the midnight of the 15th is in the span -> 1.20 (new version's rate).
    versioned = load_tariff((EXAMPLES / "versioned.toml").read_text(encoding="utf-8"))
    state = CycleState(date(2025, 8, 1), kwh("140"))
    usage = [
        interval(
            datetime(2025, 8, 14, 12, tzinfo=SHANGHAI),
            datetime(2025, 8, 15, 12, tzinfo=SHANGHAI),
            "24",
        )
    ]
    charges = price(usage, versioned, state)
    assert [
        (line.version, line.tier, line.quantity, line.amount) for line in charges.energy_lines
    ] == [
        ("2025-01", 1, kwh(10), cny("8.00")),
        ("2025-01", 2, kwh(2), cny("1.80")),
        ("2025-08-15", 2, kwh(12), cny("12.60")),
    ]
    assert [(line.name, line.version, line.amount) for line in charges.fixed_lines] == [
        ("meter rental", "2025-08-15", cny("1.20"))
    ]
    assert charges.total == cny("23.60")
    assert charges.cycle == CycleState(date(2025, 8, 1), kwh("164"))
    # The change never reprices earlier consumption: the 14th alone costs the same as
    # under a tariff that never had the second version.
    before = usage[0].start, datetime(2025, 8, 15, tzinfo=SHANGHAI)
    only_old = load_tariff(
        (EXAMPLES / "versioned.toml")
        .read_text(encoding="utf-8")
        .split('[[versions]]\nid = "2025-08-15"')[0]
    )
    first_half = [interval(*before, "12")]
    assert price(first_half, versioned, state).total == price(first_half, only_old, state).total


def test_interval_across_midnight_holiday_and_cycle_start() -> None:
    # tou.toml, 2025-09-30 21:30 -> 2025-10-01 00:30, 3 kWh over 3 h (1 kWh/h):
    #   21:30-22:00 flat (0.5 kWh), 22:00-24:00 valley (2 kWh), 00:00-00:30 on 1 Oct (a
    #   holiday, "offday" schedule) valley (0.5 kWh). Cycle: October gets 0.5 kWh.
    tou = load_tariff((EXAMPLES / "tou.toml").read_text(encoding="utf-8"))
    charges = price(
        [
            interval(
                datetime(2025, 9, 30, 21, 30, tzinfo=SHANGHAI),
                datetime(2025, 10, 1, 0, 30, tzinfo=SHANGHAI),
                "3",
            )
        ],
        tou,
    )
    assert by_rate(charges.energy_lines) == {Rate.FLAT: D("0.5"), Rate.VALLEY: D("2.5")}
    assert charges.cycle == CycleState(date(2025, 10, 1), kwh("0.5"))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # National Day (holiday, offday): valley 22-08 = 10 h, flat 08-22 = 14 h.
        (date(2025, 10, 1), {Rate.VALLEY: 10, Rate.FLAT: 14}),
        # Sunday 28 Sep 2025 is a make-up workday: the normal workday schedule.
        (date(2025, 9, 28), {Rate.VALLEY: 10, Rate.FLAT: 8, Rate.PEAK: 6}),
        # An ordinary Sunday: offday.
        (date(2025, 9, 21), {Rate.VALLEY: 10, Rate.FLAT: 14}),
        # The site's own holiday override (Thursday 25 Dec 2025): offday.
        (date(2025, 12, 25), {Rate.VALLEY: 10, Rate.FLAT: 14}),
        # A summer workday: all four rates.
        (date(2025, 8, 14), {Rate.VALLEY: 10, Rate.FLAT: 5, Rate.PEAK: 4, Rate.SHARP: 5}),
    ],
)
def test_day_types_and_seasons_choose_the_schedule(day: date, expected: dict[Rate, int]) -> None:
    tou = load_tariff((EXAMPLES / "tou.toml").read_text(encoding="utf-8"))
    start = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)
    charges = price([interval(start, start + timedelta(days=1), "24")], tou)
    assert by_rate(charges.energy_lines) == expected


SIMPLE_TOU = """
[[versions]]
id = "v"
effective_from = 2025-01-01
prices = { peak = 1.00, flat = 0.50, valley = 0.20 }
[versions.tou]
periods = [
    { start = "22:00", end = "%s", rate = "valley" },
    { start = "%s", end = "22:00", rate = "%s" },
]
"""


@pytest.mark.parametrize(
    ("zone", "day", "hours", "expected"),
    [
        # New York spring-forward day has 23 h: 02:00-03:00 does not exist, so the
        # valley 00:00-08:00 lasts 7 h; + 22-24 = 9 kWh valley, 14 kWh peak.
        (NEW_YORK, date(2025, 3, 9), 23, {Rate.VALLEY: 9, Rate.PEAK: 14}),
        # Fall-back day has 25 h: 01:00-02:00 happens twice; valley 9 + 2 h.
        (NEW_YORK, date(2025, 11, 2), 25, {Rate.VALLEY: 11, Rate.PEAK: 14}),
        (LONDON, date(2025, 3, 30), 23, {Rate.VALLEY: 9, Rate.PEAK: 14}),
        (SHANGHAI, date(2025, 3, 9), 24, {Rate.VALLEY: 10, Rate.PEAK: 14}),  # no DST
    ],
)
def test_dst_days_price_real_elapsed_time(
    zone: ZoneInfo, day: date, hours: int, expected: dict[Rate, int]
) -> None:
    plan = tariff(SIMPLE_TOU % ("08:00", "08:00", "peak"), zone=zone.key)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    assert (end.astimezone(UTC) - start) // timedelta(hours=1) == hours  # real hours
    charges = price([interval(start.astimezone(LONDON), end, str(hours))], plan)
    assert by_rate(charges.energy_lines) == expected


def test_boundary_at_a_skipped_wall_time_takes_effect_at_the_jump() -> None:
    # London 2025-03-30: 01:00 GMT jumps to 02:00 BST, so a 01:30 boundary never shows on
    # the clock; the rate changes at the jump. 00:00 -> 03:00 local is 2 real hours,
    # 2 kWh: 1 kWh valley (00:00-01:00 GMT), 1 kWh flat (02:00-03:00 BST).
    plan = tariff(SIMPLE_TOU % ("01:30", "01:30", "flat"), zone="Europe/London")
    start = datetime(2025, 3, 30, tzinfo=LONDON)
    charges = price([interval(start, datetime(2025, 3, 30, 3, tzinfo=LONDON), "2")], plan)
    assert by_rate(charges.energy_lines) == {Rate.VALLEY: 1, Rate.FLAT: 1}


def test_boundary_in_a_repeated_hour_applies_both_times() -> None:
    # New York 2025-11-02: 01:00-02:00 is lived twice. With valley until 01:30, from
    # 00:00 EDT to 03:00 EST (4 real hours, 4 kWh): valley 00:00-01:30 EDT (1.5 h) and
    # 01:00-01:30 EST (0.5 h); flat 01:30-02:00 twice and 02:00-03:00 -> 2 kWh each.
    plan = tariff(SIMPLE_TOU % ("01:30", "01:30", "flat"), zone="America/New_York")
    start = datetime(2025, 11, 2, tzinfo=NEW_YORK)
    charges = price([interval(start, datetime(2025, 11, 2, 3, tzinfo=NEW_YORK), "4")], plan)
    assert by_rate(charges.energy_lines) == {Rate.VALLEY: 2, Rate.FLAT: 2}


def test_meter_tou_registers_split_a_reading_gap() -> None:
    # Readings 06:00 and 12:00 on a summer workday (flat 08-10, valley 06-08, peak 10-12).
    # By time the 6 kWh would be 2/2/2; the meter's registers say valley 0.5, flat 1.5,
    # peak 4.0, so those shares are used.
    four = tariff(FOUR_RATES)
    readings = [
        MeterReading(
            datetime(2025, 8, 14, 6, tzinfo=SHANGHAI),
            kwh("100"),
            MappingProxyType(
                {
                    Rate.VALLEY: kwh("50"),
                    Rate.FLAT: kwh("30"),
                    Rate.PEAK: kwh("20"),
                    Rate.SHARP: kwh("0"),
                }
            ),
        ),
        MeterReading(
            datetime(2025, 8, 14, 12, tzinfo=SHANGHAI),
            kwh("106"),
            MappingProxyType(
                {
                    Rate.VALLEY: kwh("50.5"),
                    Rate.FLAT: kwh("31.5"),
                    Rate.PEAK: kwh("24"),
                    Rate.SHARP: kwh("0"),
                }
            ),
        ),
    ]
    charges = price(intervals_from_readings(readings), four)
    assert by_rate(charges.energy_lines) == {
        Rate.VALLEY: D("0.5"),
        Rate.FLAT: D("1.5"),
        Rate.PEAK: 4,
    }
    # Without registers: time-proportional.
    plain = [UsageInterval(readings[0].at, readings[1].at, kwh("6"))]
    assert by_rate(price(plain, four).energy_lines) == {Rate.VALLEY: 2, Rate.FLAT: 2, Rate.PEAK: 2}


def test_fixed_charges_are_due_per_local_midnight_and_prorated_by_month_days() -> None:
    # tiered.toml: 30.00 management fee per month. Usage from 2025-02-20 00:00 to
    # 2025-03-03 00:00 covers 9 February midnights (20th-28th) and 2 March ones:
    # 30 x 9/28 = 9.642857… -> 9.64 and 30 x 2/31 = 1.935483… -> 1.94.
    tiered = load_tariff((EXAMPLES / "tiered.toml").read_text(encoding="utf-8"))
    usage = [
        interval(datetime(2025, 2, 20, tzinfo=SHANGHAI), datetime(2025, 3, 3, tzinfo=SHANGHAI), "0")
    ]
    charges = price(usage, tiered)
    assert [(line.month, line.days, line.amount) for line in charges.fixed_lines] == [
        ("2025-02", 9, cny("9.64")),
        ("2025-03", 2, cny("1.94")),
    ]
    full = [
        interval(datetime(2025, 2, 1, tzinfo=SHANGHAI), datetime(2025, 3, 1, tzinfo=SHANGHAI), "0")
    ]
    assert price(full, tiered).fixed_amount == cny("30.00")


def test_bad_usage_is_refused() -> None:
    flat = load_tariff((EXAMPLES / "flat.toml").read_text(encoding="utf-8"))
    a = datetime(2025, 3, 1, tzinfo=SHANGHAI)
    with pytest.raises(UsageError, match="overlap"):
        price(
            [
                interval(a, a + timedelta(hours=2), "1"),
                interval(a + timedelta(hours=1), a + timedelta(hours=3), "1"),
            ],
            flat,
        )
    with pytest.raises(UnitMismatchError):
        price([UsageInterval(a, a + timedelta(hours=1), m3("1"))], flat)
    with pytest.raises(TariffNotInForceError, match="no version in force"):
        price([interval(datetime(2024, 12, 31, tzinfo=SHANGHAI), a, "1")], flat)
    with pytest.raises(UsageError, match="fell from"):
        intervals_from_readings(
            [MeterReading(a, kwh(5)), MeterReading(a + timedelta(hours=1), kwh(4))]
        )
    with pytest.raises(UsageError, match="negative"):
        interval(a, a + timedelta(hours=1), "-1")


def test_subtotals_add_up_to_the_energy_amount() -> None:
    tou = load_tariff((EXAMPLES / "versioned.toml").read_text(encoding="utf-8"))
    usage = [
        interval(
            datetime(2025, 8, 10, tzinfo=SHANGHAI), datetime(2025, 8, 20, tzinfo=SHANGHAI), "333.33"
        )
    ]
    charges = price(usage, tou)
    for by in ("version", "rate", "tier"):
        subtotals = charges.subtotals(by)
        assert sum((s.amount for s in subtotals.values()), cny("0")) == charges.energy_amount
    assert list(charges.subtotals("version")) == ["2025-01", "2025-08-15"]


def test_no_usage_prices_to_nothing_and_keeps_the_cycle() -> None:
    state = CycleState(date(2025, 3, 1), kwh("7"))
    charges = price([], tariff(TIERED), state)
    assert (charges.total, charges.energy_lines, charges.cycle) == (cny("0"), (), state)


def test_registers_at_a_rate_the_tariff_does_not_price_fall_back_to_time() -> None:
    # tiered.toml has no sharp price; a meter reporting sharp energy is split by time:
    # 06:00-12:00 on a workday = valley 06-08, flat 08-11, peak 11-12 -> 2/3/1 kWh.
    tiered = load_tariff((EXAMPLES / "tiered.toml").read_text(encoding="utf-8"))
    start, end = datetime(2025, 3, 4, 6, tzinfo=SHANGHAI), datetime(2025, 3, 4, 12, tzinfo=SHANGHAI)
    registers = MappingProxyType({Rate.SHARP: kwh(3), Rate.PEAK: kwh(3)})
    charges = price([UsageInterval(start, end, kwh(6), registers)], tiered, include_fixed=False)
    assert by_rate(charges.energy_lines) == {Rate.VALLEY: 2, Rate.FLAT: 3, Rate.PEAK: 1}


WATER = """
unit = "m3"
[[versions]]
id = "w"
effective_from = 2025-01-01
prices = { flat = 3.45 }
tiers = [{ up_to = 10, surcharge = 0 }, { surcharge = 1.50 }]
"""


def test_water_in_cubic_metres_with_yearly_tiers() -> None:
    # Yearly cycle: 9 m³ billed in 2025; 2 m³ from 31 Dec 12:00 to 1 Jan 12:00 (1 m³ each
    # side of the new year): 1 m³ tier 1 (3.45) in 2025, 1 m³ tier 1 (3.45) in 2026.
    water = tariff(WATER, cycle="year")
    state = CycleState(date(2025, 1, 1), m3(9))
    start = datetime(2025, 12, 31, 12, tzinfo=SHANGHAI)
    charges = price([UsageInterval(start, start + timedelta(days=1), m3(2))], water, state)
    assert [(line.cycle, line.tier, line.amount) for line in charges.energy_lines] == [
        (date(2025, 1, 1), 1, cny("3.45")),
        (date(2026, 1, 1), 1, cny("3.45")),
    ]
    assert charges.cycle == CycleState(date(2026, 1, 1), m3(1))
    with pytest.raises(UnitMismatchError):
        price([interval(start, start + timedelta(hours=1), "1")], water)
