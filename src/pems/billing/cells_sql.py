"""Interval readings summarised per pricing cell by the database (see pems.domain.cells).

One grouped query per point (or for every due point at once) returns, for each
cell between two tariff cut points, the first and last timestamps and totals — a
few rows a day instead of 96 — so settlement prices months of readings in
milliseconds. Totals and TOU registers are cumulative, so within a cell the
first reading holds the minimum and the last the maximum. A total that falls
inside a cell and climbs back above the cell's first total before the cell ends
is invisible here and is treated as a misread; any other fall shows at a cell
edge and the caller settles reading by reading, stopping at it.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from django.db import connection, transaction

from pems.domain.cells import Cell
from pems.domain.tou import Rate
from pems.metering.models import ENERGY_PLACES, IntervalReading

_REGISTERS = {"sharp": Rate.SHARP, "peak": Rate.PEAK, "flat": Rate.FLAT, "valley": Rate.VALLEY}
_TABLE = IntervalReading._meta.db_table
_MICROSECOND = timedelta(microseconds=1)
_AGGREGATES = ", ".join(
    f"min(energy_{name}), max(energy_{name}), count(energy_{name})" for name in _REGISTERS
)
#: PostgreSQL: the register aggregates as one array, NULL for a meter without registers, so
#: the usual row carries 8 columns instead of 19.
_REGISTER_ARRAY = (
    "CASE WHEN "
    + " + ".join(f"count(energy_{name})" for name in _REGISTERS)
    + f" > 0 THEN ARRAY[{_AGGREGATES}] END"
)


def point_cells(
    point_id: int, after: datetime, until: datetime | None, cuts: Sequence[datetime]
) -> list[Cell] | None:
    """Cells of the point's readings in (after, until]; None if they cannot be summarised.

    ``cuts`` are the tariff's cut points after ``after`` (sorted, aware). None
    means some readings carry TOU registers and others do not in one cell.
    """
    where = "point_id = %s AND read_at > %s" + (" AND read_at <= %s" if until else "")
    bounds = [after, *([until] if until else [])]
    if connection.vendor == "sqlite":
        bounds = [_sqlite_text(b) for b in bounds]
    rows = _grouped(f"FROM {_TABLE} WHERE {where}", [point_id, *bounds], cuts)
    return _cells([row[1:] for row in rows])


def points_cells(
    after: Mapping[int, datetime], cuts: Sequence[datetime]
) -> dict[int, list[Cell] | None]:
    """:func:`point_cells` for many points at once (each after its own instant, no end).

    One grouped query: on PostgreSQL a scan of the readings table when most of it is
    due, where one query per point would walk the index point by point.
    """
    if not after:
        return {}
    if connection.vendor == "postgresql":
        source = (
            f"FROM {_TABLE} JOIN unnest(%s::bigint[], %s::timestamptz[]) AS due(point, after) "
            "ON point_id = due.point AND read_at > due.after"
        )
        params: list[object] = [list(after), list(after.values())]
    else:
        values = ", ".join(["(%s, %s)"] * len(after))
        source = (
            # Only placeholders are joined in: the values travel as parameters.
            f"FROM {_TABLE} JOIN (SELECT column1 AS point, column2 AS after "  # noqa: S608
            f"FROM (VALUES {values})) AS due ON point_id = due.point AND read_at > due.after"
        )
        params = [v for point, at in after.items() for v in (point, _sqlite_text(at))]
    by_point: dict[int, list[tuple[object, ...]]] = {point: [] for point in after}
    for row in _grouped(source, params, cuts):
        by_point[row[0]].append(row[1:])
    return {point: _cells(rows) for point, rows in by_point.items()}


#: Memory PostgreSQL may use to group a big backlog in a hash table instead of sorting on disk.
GROUPING_WORK_MEM = "64MB"


def _grouped(source: str, params: list[object], cuts: Sequence[datetime]) -> list[Any]:
    """Per point and cell: first/last time, total and registers of the readings in ``source``."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL work_mem = '{GROUPING_WORK_MEM}'")
            # JIT compiling this plan took 0.8 s of a 3 s query over 10 M rows and won less.
            cursor.execute("SET LOCAL jit = off")
        if connection.vendor == "postgresql" and cuts:
            # Cells are (cut, next cut]: count the cuts strictly before each reading, i.e.
            # (timestamps being whole microseconds) the cuts + 1 µs at or before it.
            cell = "width_bucket(read_at, %s::timestamptz[])"
            params = [[cut + _MICROSECOND for cut in cuts], *params]
        elif connection.vendor == "sqlite" and cuts:
            texts = [_sqlite_text(c) for c in cuts]
            cursor.connection.create_function(
                "pems_cell", 1, lambda text: bisect.bisect_left(texts, text), deterministic=True
            )
            cell = "pems_cell(read_at)"
        else:
            cell = "0"
        registers = _REGISTER_ARRAY if connection.vendor == "postgresql" else _AGGREGATES
        sql = (
            f"SELECT point_id, {cell} AS cell, min(read_at), max(read_at), "
            f"min(energy_total), max(energy_total), count(*), {registers} "
            f"{source} GROUP BY point_id, cell ORDER BY point_id, cell"
        )
        if connection.vendor == "postgresql":
            # Binary results (so a server-bound cursor, not Django's client-side one):
            # parsing hundreds of thousands of timestamps from text costs seconds.
            with psycopg.Cursor(connection.connection) as binary:
                binary.execute(sql, params, binary=True)
                return binary.fetchall()
        cursor.execute(sql, params)
        return cursor.fetchall()


def _cells(rows: Sequence[Sequence[Any]]) -> list[Cell] | None:
    cells = []
    for position, first_at, last_at, low, high, count, *columns in rows:
        # PostgreSQL sends the register aggregates as one array (or NULL), SQLite as columns.
        registers = columns[0] if len(columns) == 1 else columns
        first: dict[Rate, Decimal] = {}
        last: dict[Rate, Decimal] = {}
        if not registers or not any(registers[2::3]):  # no TOU registers: the usual case
            cells.append(
                Cell(position, _aware(first_at), _energy(low), _aware(last_at), _energy(high))
            )
            continue
        for index, rate in enumerate(_REGISTERS.values()):
            reg_low, reg_high, reg_count = registers[3 * index : 3 * index + 3]
            if reg_count == count:
                first[rate], last[rate] = _energy(reg_low), _energy(reg_high)
            elif reg_count:
                return None
        cells.append(
            Cell(
                position, _aware(first_at), _energy(low), _aware(last_at), _energy(high),
                first, last,
            )
        )  # fmt: skip
    return cells


def _energy(units: int) -> Decimal:
    return Decimal(units).scaleb(-ENERGY_PLACES)


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite stores UTC as ISO text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _sqlite_text(instant: datetime) -> str:
    """``instant`` as Django writes a DateTimeField to SQLite (naive UTC ISO text)."""
    return str(instant.astimezone(UTC).replace(tzinfo=None))
