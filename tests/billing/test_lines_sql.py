"""PostgreSQL prices a backlog per breakdown line exactly as ``price_cells`` prices its cells.

``billing.lines_sql`` moves the cell walk of settlement into one query (the
10 M-reading benchmark); every reading, cut, tier and cycle must come out to
the same charges, the cursor's cycle state included, whichever way the
database reads the rows.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pems.billing.lines_sql import Due, points_lines
from pems.billing.models import SettlementCursor
from pems.billing.summaries import price_lines
from pems.domain.cells import cell_index, cells_from_readings, price_cells
from pems.domain.errors import UsageError
from pems.domain.pricing import MeterReading
from pems.domain.quantities import kwh
from pems.domain.segments import cut_points
from pems.domain.tiers import CycleState
from pems.metering.models import IntervalReading, PointState
from tests.domain.test_cells import ALL, make_readings, readings_plan
from tests.domain.test_properties import TARIFFS
from tests.factories import MeteringPointFactory


def _seconds(count):
    return timedelta(seconds=count)


# Dense readings (no whole cell without one, so the database prices them) with energy enough
# to cross tiers, often starting just before a billing cycle ends; and the sparse ones of
# tests/domain/test_cells.py, gaps and all.
dense_plan = st.lists(
    st.tuples(
        st.one_of(st.just(timedelta(minutes=15)), st.integers(1, 50 * 60).map(_seconds)),
        # Wh; now and then over a MWh in one interval, past what the query splits in bigint.
        st.one_of(st.integers(0, 40_000), st.integers(10**6, 5 * 10**6)),
        st.booleans(),
    ),
    max_size=150,
)
starts = st.one_of(
    st.integers(0, 400 * 24 * 3600).map(lambda s: datetime(2025, 1, 2, tzinfo=UTC) + _seconds(s)),
    st.tuples(st.integers(2, 13), st.integers(1, 2 * 24 * 3600)).map(
        lambda m: datetime(2025 + m[0] // 13, m[0] % 13 or 1, 1, tzinfo=UTC) - _seconds(m[1])
    ),
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own query"),
]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    which=st.integers(0, len(ALL) - 1),
    first=starts,
    plans=st.lists(st.one_of(dense_plan, readings_plan), min_size=1, max_size=3),
    registers=st.booleans(),
    used=st.integers(0, 120),
    latest=st.one_of(st.none(), st.tuples(st.integers(-3600, 3 * 24 * 3600), st.integers(0, 9000))),
    scan=st.booleans(),
)
def test_the_database_prices_each_point_as_its_cells_price(
    which, first, plans, registers, used, latest, scan
):
    tariff = ALL[which]
    with transaction.atomic():
        points = [MeteringPointFactory() for _ in plans]
        due, histories = [], {}
        for n, (point, plan) in enumerate(zip(points, plans, strict=True)):
            start = first + timedelta(seconds=7919 * n)
            readings = make_readings(start, plan, registers and n == 0)
            IntervalReading.objects.bulk_create(_rows(point, readings))  # the start too: excluded
            cycle = CycleState(start.astimezone(tariff.zone).date().replace(day=1), kwh(used))
            due.append(Due(point.pk, start, readings[0].total.amount, cycle))
            histories[point.pk] = readings, cycle
        end = max(r[-1].at for r, _ in histories.values()) + timedelta(days=4)
        cuts = cut_points(min(d.after for d in due), end, tariff)

        found = points_lines(due, cuts, tariff, scan=scan)

        for d in due:
            readings, cycle = histories[d.point_id]
            lines = found[d.point_id]
            cells = cells_from_readings(readings[1:], cuts)
            first = cell_index(d.after, cuts)
            positions = [cell_index(d.after, cuts), *(c.position for c in cells)]
            gaps = any(b - a > 1 for a, b in itertools.pairwise(positions))
            if lines is None:  # only what a cell-by-cell walk must do itself
                assert gaps or (registers and d is due[0] and len(readings) > 1)
                continue
            state = None
            if latest is not None:
                at = readings[-1].at + timedelta(seconds=latest[0])
                total = readings[-1].total.amount + Decimal(latest[1]).scaleb(-3)
                state = PointState(point_id=d.point_id, read_at=at, energy_total=total)
                if at > readings[-1].at:
                    cells = cells_from_readings([*readings[1:], _reading(at, total)], cuts)
            cursor = SettlementCursor(
                point_id=d.point_id,
                settled_until=d.after,
                last_total=d.total,
                cycle_start=cycle.start,
                cycle_used=cycle.used.amount,
            )
            try:
                expected = price_cells(readings[0], cells, cuts, tariff, cycle) if cells else None
            except UsageError:
                continue  # a fall: the per-reading path stops there (tests/billing/test_settlement)
            if state is not None and state.read_at <= d.after:
                state = None
            actual = price_lines(cursor, tariff, lines, state)
            if expected is None:
                assert actual is None
            else:
                assert actual is not None
                assert actual[0] == expected
                assert actual[1].at == cells[-1].last_at
                assert actual[1].total.amount == cells[-1].last_total
        transaction.set_rollback(True)


def _rows(point, readings):
    return [
        IntervalReading(
            point=point, interval_start=r.at, read_at=r.at, energy_total=r.total.amount,
            **{f"energy_{rate.value}": q.amount for rate, q in r.registers.items()},
        )
        for r in readings
    ]  # fmt: skip


def _reading(at, total):
    return MeterReading(at, kwh(total))


def test_a_month_boundary_restarts_the_tiers_after_the_energy_before_midnight():
    """Shanghai, tiers at 40 and 90 kWh a month. The cursor's January has used 35 kWh; 2 kWh
    every 20 minutes from 20:10 on 31 January. January gets 11 intervals and half of the
    one across midnight, 23 kWh (tier 2 from 40); February counts from its own zero, not
    from before that half: 97 kWh, tiers 1 to 3 — exactly what pricing the cells says."""
    tariff = TARIFFS["Asia/Shanghai"]
    start = datetime(2025, 1, 31, 20, 10, tzinfo=tariff.zone).astimezone(UTC)
    readings = [
        _reading(start + timedelta(minutes=20 * i), Decimal(500 + 2 * i)) for i in range(61)
    ]
    point = MeteringPointFactory()
    IntervalReading.objects.bulk_create(_rows(point, readings))
    cycle = CycleState(date(2025, 1, 1), kwh(35))
    cuts = cut_points(start, readings[-1].at + timedelta(days=1), tariff)

    lines = points_lines([Due(point.pk, start, Decimal(500), cycle)], cuts, tariff)[point.pk]

    cursor = SettlementCursor(
        point_id=point.pk, settled_until=start, last_total=Decimal(500),
        cycle_start=cycle.start, cycle_used=Decimal(35),
    )  # fmt: skip
    charges, last = price_lines(cursor, tariff, lines, None)
    expected = price_cells(
        readings[0], cells_from_readings(readings[1:], cuts), cuts, tariff, cycle
    )
    assert charges == expected
    assert (last.at, last.total.amount) == (readings[-1].at, Decimal(620))
    assert charges.cycle == CycleState(date(2025, 2, 1), kwh(97))
    assert _by_tier(charges, month=1) == {1: 5, 2: 18}
    assert _by_tier(charges, month=2) == {1: 40, 2: 50, 3: 7}


def _by_tier(charges, month):
    quantities = {}
    for line in charges.energy_lines:
        if line.cycle.month == month:
            quantities[line.tier] = quantities.get(line.tier, 0) + line.quantity.amount
    return quantities


def test_a_total_that_falls_across_a_cut_is_left_to_the_per_reading_path():
    """11 kWh in the peak before 22:00 in Shanghai, 10.5 in the valley after: the walk stops;
    the per-reading path finds the fall and asks for the replacement (test_settlement.py)."""
    tariff = TARIFFS["Asia/Shanghai"]
    start = datetime(2025, 6, 1, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    steps = [(0, "10.000"), (15, "11.000"), (31, "10.500"), (45, "12.000")]
    readings = [_reading(start + timedelta(minutes=m), Decimal(t)) for m, t in steps]
    point = MeteringPointFactory()
    IntervalReading.objects.bulk_create(_rows(point, readings))
    cuts = cut_points(start, start + timedelta(days=1), tariff)

    for scan in [True, False]:
        found = points_lines([Due(point.pk, start, Decimal(10), None)], cuts, tariff, scan=scan)
        assert found == {point.pk: None}


def test_a_backlog_of_most_of_the_table_is_read_by_one_scan(monkeypatch):
    """The settle loop's usual run (cursors a sweep old) walks the index; a months-long
    backlog of most rows (a first settlement, a long outage) reads the table once."""
    from django.utils import timezone

    from pems.billing import lines_sql

    monkeypatch.setattr(lines_sql, "_table_rows", lambda: 10_000_000.0)
    now = timezone.now()

    def due(age, count):
        return [Due(n, now - age, Decimal(0), None) for n in range(1, count + 1)]

    assert not lines_sql._scan(due(timedelta(minutes=1), 1000))
    assert not lines_sql._scan(due(timedelta(days=10), 1000))  # ≈ 1 M of 10 M rows
    assert lines_sql._scan(due(timedelta(days=104), 1000))  # ≈ all of them
    assert lines_sql._scan(due(timedelta(days=430), 242))
