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
from pems.billing.marks_sql import on_whole_hours
from pems.billing.models import SettlementCursor
from pems.billing.summaries import price_lines
from pems.domain.cells import cell_index, cells_from_readings, price_cells
from pems.domain.errors import UsageError
from pems.domain.pricing import MeterReading
from pems.domain.quantities import kwh
from pems.domain.segments import cut_points
from pems.domain.tiers import CycleState
from pems.metering import hour_marks
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
    source=st.sampled_from(["index", "scan", "marks"]),
)
def test_the_database_prices_each_point_as_its_cells_price(
    which, first, plans, registers, used, latest, source
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

        marks = source == "marks"
        if marks and not on_whole_hours(cuts):
            marks = False  # the hour marks cannot price a cut between hours: no such tariff here
        found = points_lines(due, cuts, tariff, scan=source == "scan", marks=marks)

        for d in due:
            readings, cycle = histories[d.point_id]
            lines = found[d.point_id]
            cells = cells_from_readings(readings[1:], cuts)
            first = cell_index(d.after, cuts)
            positions = [cell_index(d.after, cuts), *(c.position for c in cells)]
            gaps = any(b - a > 1 for a, b in itertools.pairwise(positions))
            if lines is None:  # only what a cell-by-cell walk must do itself
                # (the hour marks split a gap over whole cells as the cells do)
                assert (gaps and not marks) or (registers and d is due[0] and len(readings) > 1)
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

    for scan, marks in [(True, False), (False, False), (True, True)]:
        due = [Due(point.pk, start, Decimal(10), None)]
        assert points_lines(due, cuts, tariff, scan=scan, marks=marks) == {point.pk: None}


def _priced_both_ways(point, due, cuts, tariff):
    """The lines from the hour marks, which must equal those from the readings by index."""
    marked = points_lines([due], cuts, tariff, scan=True, marks=True)[point.pk]
    assert marked == points_lines([due], cuts, tariff, scan=False, marks=False)[point.pk]
    return marked


def test_the_hour_marks_price_an_offline_gap_over_whole_cells_as_the_cells_do():
    """Shanghai: offline from 21:30 on 1 June to 09:10 on 3 June, 50.4 kWh in one interval
    over six cells. The readings' query leaves that to the per-cell way; the marks split it
    by time from its start, floored, as the per-cell way does — the same charges."""
    tariff = TARIFFS["Asia/Shanghai"]
    start = datetime(2025, 6, 1, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    steps = [(0, "10.000"), (15, "11.000"), (35 * 60 + 40, "61.400"), (35 * 60 + 55, "62.000")]
    readings = [_reading(start + timedelta(minutes=m), Decimal(t)) for m, t in steps]
    point = MeteringPointFactory()
    IntervalReading.objects.bulk_create(_rows(point, readings))
    cuts = cut_points(start, start + timedelta(days=3), tariff)
    assert on_whole_hours(cuts)
    due = Due(point.pk, start, Decimal(10), None)

    assert points_lines([due], cuts, tariff, scan=False, marks=False) == {point.pk: None}
    lines = points_lines([due], cuts, tariff, scan=True, marks=True)[point.pk]

    cursor = SettlementCursor(point_id=point.pk, settled_until=start, last_total=Decimal(10))
    charges, last = price_lines(cursor, tariff, lines, None)
    cells = cells_from_readings(readings[1:], cuts)
    assert charges == price_cells(readings[0], cells, cuts, tariff, None)
    assert (last.at, last.total.amount) == (readings[-1].at, Decimal(62))


def test_the_hour_marks_split_again_from_a_cursor_between_two_readings():
    """A cursor that is no stored reading (settled up to a meter exchange, say): the marks
    of the interval it sits in are split from the cursor, as the readings' query splits."""
    tariff = TARIFFS["Asia/Shanghai"]
    start = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai
    readings = [_reading(start + timedelta(minutes=25 * i), Decimal(10 + i)) for i in range(9)]
    point = MeteringPointFactory()
    IntervalReading.objects.bulk_create(_rows(point, readings))
    cuts = cut_points(start, start + timedelta(days=1), tariff)
    # 21:50, between the readings of 21:50 - 10 min and 22:15, with its own total.
    after = start + timedelta(minutes=50)

    lines = _priced_both_ways(point, Due(point.pk, after, Decimal("11.500"), None), cuts, tariff)

    assert lines is not None
    assert sum(lines.quantities.values()) == Decimal("18.000") - Decimal("11.500")


def test_a_cursor_exactly_on_a_cut_opens_the_cell_after_it():
    """Settled up to midnight at a month's start, where no mark is read (marks are read after
    the cursor), while another point's cursor is a day earlier (so that cut is one of the
    walk's): February's tiers start from zero, not from January's 35 kWh."""
    tariff = TARIFFS["Asia/Shanghai"]
    start = datetime(2025, 2, 1, tzinfo=tariff.zone).astimezone(UTC)
    readings = [_reading(start + timedelta(hours=i), Decimal(500 + 30 * i)) for i in range(4)]
    point, other = MeteringPointFactory(), MeteringPointFactory()
    IntervalReading.objects.bulk_create(_rows(point, readings))
    earlier = [
        _reading(start - timedelta(days=1) + timedelta(hours=i), Decimal(i)) for i in range(30)
    ]
    IntervalReading.objects.bulk_create(_rows(other, earlier))
    cuts = cut_points(earlier[0].at, start + timedelta(days=1), tariff)
    cycle = CycleState(date(2025, 1, 1), kwh(35))
    due = [
        Due(point.pk, start, Decimal(500), cycle),
        Due(other.pk, earlier[0].at, Decimal(0), None),
    ]

    marked = points_lines(due, cuts, tariff, scan=True, marks=True)
    assert marked == points_lines(due, cuts, tariff, scan=False, marks=False)
    lines = marked[point.pk]

    cursor = SettlementCursor(
        point_id=point.pk, settled_until=start, last_total=Decimal(500),
        cycle_start=cycle.start, cycle_used=Decimal(35),
    )  # fmt: skip
    charges, _last = price_lines(cursor, tariff, lines, None)
    cells = cells_from_readings(readings[1:], cuts)
    assert charges == price_cells(readings[0], cells, cuts, tariff, cycle)
    assert charges.cycle == CycleState(date(2025, 2, 1), kwh(90))
    assert _by_tier(charges, month=2) == {1: 40, 2: 50}


def test_a_cut_without_its_hour_mark_is_left_to_the_per_cell_way():
    tariff = TARIFFS["Asia/Shanghai"]
    start = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)
    readings = [_reading(start + timedelta(minutes=25 * i), Decimal(10 + i)) for i in range(9)]
    point = MeteringPointFactory()
    IntervalReading.objects.bulk_create(_rows(point, readings))
    cuts = cut_points(start, start + timedelta(days=1), tariff)
    due = Due(point.pk, start, Decimal(10), None)
    assert points_lines([due], cuts, tariff, scan=True, marks=True)[point.pk] is not None
    with connection.cursor() as cursor:  # 22:00 in Shanghai, a cut
        cursor.execute(
            f"DELETE FROM {hour_marks.MARKS} WHERE point_id = %s AND at = %s",  # noqa: S608
            [point.pk, datetime(2025, 6, 1, 14, tzinfo=UTC)],
        )
    assert points_lines([due], cuts, tariff, scan=True, marks=True)[point.pk] is None


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
