"""Settlement priced by PostgreSQL: each due point's usage per breakdown line, in one query.

:func:`pems.domain.cells.price_cells` walks a point's cells in Python; over
months of readings on hundreds of points that walk costs more than reading
the rows. Here the database does the same walk set-wise and returns, per
point, the quantity of each (class, tier) — tens of rows a point:

1. readings are grouped per (point, cell) as in :mod:`pems.billing.cells_sql`;
2. the energy of the interval crossing the cut into a cell is split at the cut
   by time, floor-rounded on the 10⁻⁶ grid (``price_cells``' integer split):
   a cell's usage runs from the total at its opening cut to the total at the
   next one (the first from the cursor, the last to its last reading);
3. counted from the start of its billing cycle, each cell's usage falls into
   the tiers its band overlaps.

Quantities are integers of :data:`pems.domain.pricing.ENERGY_QUANTUM`. A
point the query cannot price exactly — TOU registers, a total that falls, an
offline gap over a whole cell — comes back as None: the caller prices it cell
by cell. ``tests/billing/test_lines_sql.py`` holds the two ways together.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from pems.billing import marks_sql
from pems.core.by_id import by_id, fits, id_base
from pems.core.streamed import row_runs
from pems.domain.errors import DomainError
from pems.domain.pricing import ENERGY_QUANTUM
from pems.domain.segments import classify
from pems.domain.tariff import Tariff
from pems.domain.tiers import CycleState
from pems.domain.tou import Rate
from pems.metering.models import ENERGY_PLACES, IntervalReading

log = logging.getLogger(__name__)

_TABLE = IntervalReading._meta.db_table
_MICROSECOND = timedelta(microseconds=1)
_QUANTA = int(1 / ENERGY_QUANTUM)  # per unit (kWh, m³)
_STORED = 10**ENERGY_PLACES  # stored integers per unit
_REGISTERS = " OR ".join(
    f"energy_{name} IS NOT NULL" for name in ["sharp", "peak", "flat", "valley"]
)
#: Readings a due point is assumed to have per day when choosing a scan over the index.
_READINGS_A_DAY = 96

LineKey = tuple[date, int, Rate, int | None]  # (cycle, version index, rate, tier number)


@dataclass(frozen=True)
class Due:
    """A point to price from its cursor: after ``after``, from ``total``, in ``cycle``."""

    point_id: int
    after: datetime
    total: Decimal
    cycle: CycleState | None


@dataclass(frozen=True)
class Lines:
    """A point's usage after its cursor per breakdown line; its last reading; its cycle then.

    ``last_at`` is the cursor's own instant when there was nothing new.
    """

    quantities: dict[LineKey, Decimal]
    last_at: datetime
    last_total: Decimal
    cycle_start: date
    cycle_used: Decimal


def points_lines(
    due: Sequence[Due],
    cuts: Sequence[datetime],
    tariff: Tariff,
    scan: bool | None = None,
    marks: bool | None = None,
) -> dict[int, Lines | None]:
    """Each due point's lines (None: price it cell by cell; each due point is a key).

    ``cuts`` are the tariff's cut points from the earliest ``after`` on, reaching
    past every reading. ``scan`` forces (True) or forbids (False) reading the
    whole table instead of each point's rows by index; None chooses by backlog.
    ``marks`` forces (True) or forbids (False) reading the hour marks at the cuts
    instead of the readings (``metering.hour_marks``); None reads them for a
    backlog when every cut falls on a whole hour.
    """
    return dict(lines_as_read(due, cuts, tariff, scan, marks))


#: Fewest points whose walk over the marks is worth a thread and a connection of its own.
STREAM_FROM = 100


def lines_as_read(
    due: Sequence[Due],
    cuts: Sequence[datetime],
    tariff: Tariff,
    scan: bool | None = None,
    marks: bool | None = None,
    stream: bool = False,
) -> Iterator[tuple[int, Lines | None]]:
    """:func:`points_lines` a point at a time. With ``stream``, a walk over the marks of
    :data:`STREAM_FROM` points or more is read as PostgreSQL produces it
    (:func:`pems.core.streamed.row_runs`): each point comes as soon as its rows are in,
    while the database goes on with the next."""
    if not due:
        return
    try:
        first = classify(min(d.after for d in due), tariff)
        classes = [first, *(classify(cut, tariff) for cut in cuts)]
    except DomainError:  # e.g. no version in force: the per-cell way says so, per point
        yield from ((d.point_id, None) for d in due)
        return
    cuts, classes = _merged(cuts, classes)
    bands = _bands(tariff)
    if bands is None:
        yield from ((d.point_id, None) for d in due)
        return
    starts = _starts(due, cuts, classes)
    yield from ((d.point_id, None) for d in due if starts[d.point_id] is None)
    priced = {d.point_id: d for d in due if starts[d.point_id] is not None}
    distinct = list(dict.fromkeys(classes))
    ids = {klass: number for number, klass in enumerate(distinct)}
    scan = _scan(list(priced.values())) if scan is None else scan
    if marks is None:
        marks = scan and marks_sql.on_whole_hours(cuts)
    marks = bool(marks) and fits(list(priced))
    class_ids = [ids[c] for c in classes]
    query = _query(list(priced.values()), starts, cuts, classes, class_ids, bands, scan, marks)
    streamed = stream and marks and len(priced) >= STREAM_FROM
    for run in _runs(query, scan and not marks, streamed):
        d = priced.pop(run[0][0])
        yield d.point_id, _lines(d, run, distinct, bands)
    yield from ((d.point_id, _lines(d, [], distinct, bands)) for d in priced.values())


_Class = tuple[int, Rate, date]


def _merged(
    cuts: Sequence[datetime], classes: Sequence[_Class]
) -> tuple[list[datetime], list[_Class]]:
    """Without the cuts between two cells of one class (a midnight inside the valley rate).

    Exact: usage on both sides of such a cut is priced alike and fills the tiers in the
    same order. A quarter fewer cells for a three-rate day.
    """
    kept_cuts, kept_classes = [], [classes[0]]
    for cut, after in zip(cuts, classes[1:], strict=True):
        if after != kept_classes[-1]:
            kept_cuts.append(cut)
            kept_classes.append(after)
    return kept_cuts, kept_classes


#: Per version: each tier's band (low, high or None) in quanta and its number (None: no tiers).
_Bands = list[list[tuple[int, int | None, int | None]]]


def _bands(tariff: Tariff) -> _Bands | None:
    bands: _Bands = []
    for version in tariff.versions:
        if version.tiers is None:
            bands.append([(0, None, None)])
            continue
        low, mine = Decimal(0), list[tuple[int, int | None, int | None]]()
        for number, tier in enumerate(version.tiers.tiers, start=1):
            high = None if tier.up_to is None else tier.up_to * _QUANTA
            if high is not None and high != int(high):
                return None  # a bound finer than the grid: the per-cell way is exact
            mine.append((int(low), None if high is None else int(high), number))
            low = high if high is not None else low
        bands.append(mine)
    return bands


def _starts(
    due: Sequence[Due], cuts: Sequence[datetime], classes: Sequence[_Class]
) -> dict[int, tuple[int, int, int] | None]:
    """Per point: its cell, its total in stored integers and its cycle marker (see the SQL)."""
    starts: dict[int, tuple[int, int, int] | None] = {}
    for d in due:
        position = bisect.bisect_left(cuts, d.after)
        total, used = d.total * _STORED, Decimal(0)
        cycle = classes[position][2]
        if d.cycle is not None and d.cycle.start > cycle:
            starts[d.point_id] = None  # older than its cycle state: pricing refuses, per point
            continue
        if d.cycle is not None and d.cycle.start == cycle:
            used = d.cycle.used.amount * _QUANTA
        if total != int(total) or used != int(used):
            starts[d.point_id] = None
            continue
        starts[d.point_id] = (position, int(total), -int(used))
    return starts


def _lines(
    due: Due, rows: list[tuple[Any, ...]], distinct: Sequence[_Class], bands: _Bands
) -> Lines | None:
    quantities: dict[LineKey, Decimal] = {}
    last: tuple[int, datetime, int] = (-1, due.after, 0)
    end_class = distinct[0]
    for _point, class_id, position, bad, at, total, *tiers in rows:
        if bad:
            return None
        version, rate, cycle = distinct[class_id]
        for (_low, _high, number), quantity in zip(bands[version], tiers, strict=False):
            if quantity:
                key = (cycle, version, rate, number)
                quantities[key] = quantities.get(key, Decimal(0)) + _energy(quantity)
        if position > last[0]:
            end_class = distinct[class_id]
        last = max(last, (position, at, total))
    position, last_at, last_total = last
    end = end_class[2]
    used = sum((q for (cycle, *_), q in quantities.items() if cycle == end), Decimal(0))
    if due.cycle is not None and due.cycle.start == end:
        used += due.cycle.used.amount
    return Lines(quantities, last_at, Decimal(last_total).scaleb(-ENERGY_PLACES), end, used)


@dataclass(frozen=True)
class _Query:
    """A walk to run: its SQL and parameters, and each point's last reading when the walk
    over the marks leaves it out of the rows."""

    sql: str
    params: dict[str, object]
    last: dict[int, tuple[datetime, int]] | None

    def row(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """A row as :func:`_lines` reads it (point, class, position, bad, last reading …)."""
        if self.last is None:
            return row
        point, klass, position, bad, *tiers = row
        return (point, klass, position, bad, *self.last[point], *tiers)


def _query(
    due: Sequence[Due],
    starts: Mapping[int, tuple[int, int, int] | None],
    cuts: Sequence[datetime],
    classes: Sequence[_Class],
    class_ids: Sequence[int],
    bands: _Bands,
    scan: bool,
    marks: bool,
) -> _Query:
    """Per (point, class): any reason to refuse, the last reading, the quantity per tier."""
    params: dict[str, object] = {
        "thresholds": [cut + _MICROSECOND for cut in cuts],  # cells are (cut, next cut]
        "cuts": list(cuts),
        "cycles": [klass[2].toordinal() for klass in classes],
        "versions": [klass[0] for klass in classes],
        "classes": list(class_ids),
        "points": [d.point_id for d in due],
        "afters": [d.after for d in due],
        "start_cells": [starts[d.point_id][0] for d in due],  # type: ignore[index]
        "start_totals": [starts[d.point_id][1] for d in due],  # type: ignore[index]
        "markers": [starts[d.point_id][2] for d in due],  # type: ignore[index]
    }
    tiers = []
    for number in range(max(len(b) for b in bands)):
        # A version without this tier gets an empty band: low = high = 0.
        params[f"low{number}"] = [b[number][0] if number < len(b) else 0 for b in bands]
        params[f"high{number}"] = [b[number][1] if number < len(b) else 0 for b in bands]
        tiers.append(
            f"sum(greatest(0, least(hi, base + (%(high{number})s::bigint[])[version + 1]) "
            f"- greatest(lo, base + (%(low{number})s::bigint[])[version + 1])))"
        )
    if marks:
        points = [d.point_id for d in due]
        sql, last = marks_sql.walk_sql(points, cuts, params, _REGISTERS, ", ".join(tiers))
        return _Query(sql, params, last)
    sql = _SQL.format(
        source=_source(due, params, scan),
        registers=_REGISTERS,
        quanta=_QUANTA // _STORED,
        small=2**30 // (_QUANTA // _STORED),  # stored units whose quanta × 2³³ µs fit bigint
        tiers=", ".join(tiers),
    )
    return _Query(sql, params, None)


def _runs(query: _Query, whole_table: bool, streamed: bool) -> Iterator[list[tuple[Any, ...]]]:
    """The query's rows, a point's at a time (in point order when streamed)."""
    settings = {"work_mem": GROUPING_WORK_MEM, "jit": "off"}  # JIT: see cells_sql
    if whole_table:
        settings |= WHOLE_TABLE
    if streamed:  # grouped in point order, so that each point's rows come out together
        sql = f"{query.sql.rstrip()}\nORDER BY point"
        runs = row_runs(sql, query.params, settings | {"enable_hashagg": "off"})
        try:
            first = next(runs, None)
        except OperationalError as error:  # no second connection (max_connections …)
            log.warning(
                "the walk over the hour marks is read at once: no connection of its own",
                extra={"error": str(error)},
            )
        else:
            if first is not None:
                yield [query.row(row) for row in first]
                yield from ([query.row(row) for row in run] for run in runs)
            return
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        try:
            with psycopg.Cursor(connection.connection) as binary:  # binary: no text parsing
                binary.execute(query.sql, query.params, binary=True)
                rows = binary.fetchall()
        finally:  # for the rest of a caller's transaction
            for name in settings:
                cursor.execute(f"RESET {name}")
    found: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(query.row(row))
    yield from found.values()


#: Memory PostgreSQL may use to group a big backlog in a hash table instead of sorting on disk.
GROUPING_WORK_MEM = "64MB"


#: Planner settings for a scan of most of the table (measured in docs/benchmarks.md): group
#: in hash tables, one per worker, rather than sort 10 M rows, and let the workers send their
#: partial groups (the default tuple cost made the planner group in one process).
WHOLE_TABLE = {
    "enable_sort": "off",
    "enable_incremental_sort": "off",
    "parallel_tuple_cost": "0.01",
}


def _scan(due: Sequence[Due]) -> bool:
    """Whether most of the table is due (a backlog), judged by the time since each cursor."""
    ids = [d.point_id for d in due]
    now = timezone.now()
    days = sum(max((now - d.after) / timedelta(days=1), 0) for d in due)
    return days * _READINGS_A_DAY > _table_rows() / 4 and fits(ids)


def _source(due: Sequence[Due], params: dict[str, object], scan: bool) -> str:
    """The due readings: by index point by point, or by one scan when most rows are due."""
    ids = [d.point_id for d in due]
    if not scan:
        return (
            f"FROM {_TABLE} JOIN unnest(%(points)s::bigint[], %(afters)s::timestamptz[]) "
            "AS due(point, after) ON point_id = due.point AND read_at > due.after"
        )
    # Each row's point finds its cursor by array index: no join, so the scan runs parallel.
    params["after_by_point"] = by_id({d.point_id: d.after for d in due}, ids)
    params["base"] = id_base(ids)
    return (
        f"FROM {_TABLE} WHERE read_at > "
        "(%(after_by_point)s::timestamptz[])[point_id - %(base)s::bigint]"
    )


def _table_rows() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [_TABLE])
        row = cursor.fetchone()
    return float(row[0]) if row else 0.0


#: Positions index the arrays from 1 (cell 0, before the first cut, is element 1).
_SQL = """
-- Materialised: grouped on its own, it needs no order (the walk sorts its rows after).
WITH cells AS MATERIALIZED (
  SELECT point_id AS point, width_bucket(read_at, %(thresholds)s::timestamptz[]) AS pos,
    min(read_at) AS first_at, max(read_at) AS last_at,
    min(energy_total) AS first_total, max(energy_total) AS last_total,
    bool_or({registers}) AS registers
  {source}
  GROUP BY 1, 2
), walk AS (
  SELECT *, false AS start, NULL::bigint AS marker FROM cells
  UNION ALL
  SELECT point, pos, after, after, total, total, false, true, marker
  FROM unnest(%(points)s::bigint[], %(afters)s::timestamptz[], %(start_cells)s::int[],
    %(start_totals)s::bigint[], %(markers)s::bigint[]) AS d(point, after, pos, total, marker)
), chained AS (
  SELECT point, pos, start, first_at, first_total, last_at, last_total, registers, marker,
    lag(pos) OVER w AS prev_pos, lag(last_total) OVER w AS prev_total,
    first_value(first_total) OVER w AS start_total,
    -- whole microseconds from the previous reading to the cut, and to this reading
    (extract(epoch FROM (%(cuts)s::timestamptz[])[pos] - lag(last_at) OVER w) * 1000000)::bigint
      AS weight,
    (extract(epoch FROM first_at - lag(last_at) OVER w) * 1000000)::bigint AS whole
  FROM walk WINDOW w AS (PARTITION BY point ORDER BY pos, first_at)
), split AS (
  SELECT *,
    CASE WHEN start OR prev_pos = pos THEN 0  -- (a reading on the cut weighs 0 before it)
      WHEN first_total - prev_total < {small} AND whole < 8589934592  -- fits in bigint
      THEN (first_total - prev_total) * {quanta} * weight / whole
      ELSE div((first_total - prev_total) * {quanta}::numeric * weight, whole)::bigint
    END AS head
  FROM chained OFFSET 0  -- a fence: each row's head is worked out once, not per use
), walked AS (
  SELECT point, pos, first_at, last_at, last_total,
    NOT start AND (registers OR first_total < prev_total OR prev_pos < pos - 1) AS bad,
    (last_total - start_total) * {quanta} AS upto,
    CASE WHEN start THEN 0 ELSE (prev_total - start_total) * {quanta} + head END AS lo,
    CASE WHEN start THEN marker
      WHEN (%(cycles)s::int[])[pos + 1] <> (%(cycles)s::int[])[prev_pos + 1]
      THEN (prev_total - start_total) * {quanta} + head END AS marker
  FROM split
), placed AS (
  SELECT point, pos, bad, last_at, last_total, lo,
    coalesce(lead(lo) OVER w, upto) AS hi,
    -- usage counted before the cycle began (minus what the cursor's cycle had used)
    max(marker) OVER w AS base,  -- rows are unique in this order: the frame ends at the row
    (%(versions)s::int[])[pos + 1] AS version, (%(classes)s::int[])[pos + 1] AS class
  FROM walked WINDOW w AS (PARTITION BY point ORDER BY pos, first_at)
)
SELECT point, class, max(pos), bool_or(bad), max(last_at), max(last_total), {tiers}
FROM placed GROUP BY point, class
"""


def _energy(quanta: int) -> Decimal:
    return Decimal(quanta) * ENERGY_QUANTUM
