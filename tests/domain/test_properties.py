"""Property tests: re-splitting usage, exact tiers, exact allocation."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from pems.domain.charges import Charges
from pems.domain.pricing import ENERGY_QUANTUM, UsageInterval, allocate, price
from pems.domain.quantities import Quantity, kwh
from pems.domain.tiers import CycleState, Tier, TierTable
from tests.domain.helpers import FOUR_RATES, tariff

TIERED_TOU = FOUR_RATES.replace(
    "[versions.tou]",
    "tiers = [{ up_to = 40, surcharge = 0 }, { up_to = 90, surcharge = 0.05 }, "
    "{ surcharge = 0.3 }]\n"
    'fixed = [{ name = "rental", amount = 1.00, per = "day" }, '
    '{ name = "service", amount = 30, per = "month" }]\n'
    "[versions.tou]",
)
TARIFFS = {
    zone: tariff(TIERED_TOU, zone=zone)
    for zone in ("Asia/Shanghai", "America/New_York", "Europe/London")
}
FLAT = tariff('[[versions]]\nid = "f"\neffective_from = 2025-01-01\nprices = { flat = 0.7777 }\n')

usage_plans = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=36 * 60),  # minutes
        st.integers(min_value=0, max_value=5000),  # hundredths of a kWh
        st.lists(st.integers(min_value=1, max_value=10_000), max_size=4),  # split weights
    ),
    min_size=1,
    max_size=6,
)


def build(
    start: datetime, plan: list[tuple[int, int, list[int]]]
) -> tuple[list[UsageInterval], list[UsageInterval]]:
    """The same consumption as whole intervals and as arbitrary time-proportional pieces."""
    whole, pieces = [], []
    for minutes, hundredths, weights in plan:
        end = start + timedelta(minutes=minutes)
        energy = Decimal(hundredths).scaleb(-2)
        whole.append(UsageInterval(start, end, kwh(energy)))
        cuts = [start]
        for w in weights:
            cuts.append(cuts[-1] + (end - start) * w // (sum(weights) + 1))
        cuts = [*sorted({c for c in cuts if start <= c < end}), end]
        durations = [(b - a) // timedelta(microseconds=1) for a, b in itertools.pairwise(cuts)]
        for (a, b), share in zip(
            itertools.pairwise(cuts), allocate(energy, durations), strict=True
        ):
            pieces.append(UsageInterval(a, b, kwh(share)))
        start = end
    return whole, pieces


def _lines(charges: Charges) -> int:
    return len(charges.energy_lines) + len(charges.fixed_lines)


@settings(max_examples=120, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2025, 1, 2), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(sorted(TARIFFS)),
    usage_plans,
    st.integers(min_value=0, max_value=120),
)
def test_resplitting_usage_keeps_energy_and_money_within_the_rounding_bound(
    start: datetime, zone: str, plan: list[tuple[int, int, list[int]]], used: int
) -> None:
    whole, pieces = build(start, plan)
    tou = TARIFFS[zone]
    cycle_day = start.astimezone(ZoneInfo(zone)).date().replace(day=1)
    state = CycleState(cycle_day, kwh(used))
    a, b = price(whole, tou, state), price(pieces, tou, state)
    # Energy is conserved exactly, in total and per tier-cycle state.
    assert a.energy == b.energy == sum((i.quantity for i in whole), Quantity.zero(tou.unit))
    cuts = len(pieces) + len(whole)
    assert a.cycle
    assert b.cycle
    assert a.cycle.start == b.cycle.start
    # A cut may move up to one ENERGY_QUANTUM across a cycle boundary.
    assert abs(a.cycle.used.amount - b.cycle.used.amount) <= cuts * ENERGY_QUANTUM
    assert a.fixed_lines == b.fixed_lines  # fixed charges do not depend on the split
    # Re-splitting moves at most ENERGY_QUANTUM per cut between neighbouring periods, so the
    # exact money moves by at most (cuts x quantum x highest price); each rounded line by at
    # most one minor unit (documented bound in docs/tariffs.md).
    assert abs(a.exact_total - b.exact_total) <= cuts * ENERGY_QUANTUM * Decimal("1.7")
    assert abs(a.total.amount - b.total.amount) <= Decimal("0.01") * max(_lines(a), _lines(b))


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2025, 1, 2), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)
    ),
    usage_plans,
)
def test_a_single_rate_tariff_is_exactly_split_invariant(
    start: datetime, plan: list[tuple[int, int, list[int]]]
) -> None:
    whole, pieces = build(start, plan)
    assert price(whole, FLAT).total == price(pieces, FLAT).total


@given(
    st.lists(st.integers(min_value=1, max_value=500), min_size=1, max_size=5),
    st.integers(min_value=0, max_value=3000),
    st.integers(min_value=0, max_value=3000),
)
def test_tier_split_is_exact_at_every_boundary(widths: list[int], before: int, amount: int) -> None:
    bounds = [sum(widths[: i + 1]) for i in range(len(widths))]
    table = TierTable(
        (*tuple(Tier(Decimal(b), Decimal(i)) for i, b in enumerate(bounds)), Tier(None, Decimal(9)))
    )
    parts = table.split(Decimal(before), Decimal(amount))
    assert sum(q for _, q in parts) == amount
    position = before
    for index, quantity in parts:
        lower = bounds[index - 1] if index else 0
        assert lower <= position  # a part starts inside its tier …
        upper = bounds[index] if index < len(bounds) else None
        assert upper is None or position + quantity <= upper  # … and never passes its bound
        position += int(quantity)


def test_usage_ending_exactly_on_a_tier_bound_stays_in_that_tier() -> None:
    # 40 kWh from zero fills tier 1 exactly; the next kWh is the first of tier 2.
    tou = TARIFFS["Asia/Shanghai"]
    start = datetime(2025, 5, 6, 1, tzinfo=ZoneInfo("Asia/Shanghai"))  # valley
    first = price(
        [UsageInterval(start, start + timedelta(hours=1), kwh(40))], tou, include_fixed=False
    )
    assert [(line.tier, line.quantity) for line in first.energy_lines] == [(1, kwh(40))]
    assert first.cycle == CycleState(date(2025, 5, 1), kwh(40))
    second = price(
        [UsageInterval(start + timedelta(hours=1), start + timedelta(hours=2), kwh(1))],
        tou,
        first.cycle,
    )
    assert [(line.tier, line.quantity) for line in second.energy_lines] == [(2, kwh(1))]


@given(
    st.decimals(min_value=0, max_value=10**6, places=6),
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=30).filter(any),
)
def test_allocation_parts_are_non_negative_and_sum_exactly(
    total: Decimal, weights: list[int]
) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)
    # A zero weight gets nothing (the total is on the allocation grid).
    assert all(p == 0 for p, w in zip(parts, weights, strict=True) if w == 0)
