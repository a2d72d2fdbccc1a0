"""Interval readings summarised per pricing cell by the database (see pems.domain.cells).

One grouped query per point returns, for each cell between two tariff cut
points, the first and last timestamps and totals — a few rows a day instead of
96 — so settlement prices months of readings in milliseconds. Totals and TOU
registers are cumulative, so within a cell the first reading holds the
minimum and the last the maximum. A total that falls inside a cell and climbs
back above the cell's first total before the cell ends is invisible here and
is treated as a misread; any other fall shows at a cell edge and the caller
settles reading by reading, stopping at it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection

from pems.domain.cells import Cell
from pems.domain.tou import Rate
from pems.metering.models import ENERGY_PLACES, IntervalReading

_REGISTERS = {"sharp": Rate.SHARP, "peak": Rate.PEAK, "flat": Rate.FLAT, "valley": Rate.VALLEY}
_AGGREGATES = ", ".join(
    f"min(energy_{name}), max(energy_{name}), count(energy_{name})" for name in _REGISTERS
)


def point_cells(
    point_id: int, after: datetime, until: datetime | None, cuts: Sequence[datetime]
) -> list[Cell] | None:
    """Cells of the point's readings in (after, until]; None if they cannot be summarised.

    ``cuts`` are the tariff's cut points after ``after`` (sorted, aware). None
    means some readings carry TOU registers and others do not in one cell.
    """
    table = IntervalReading._meta.db_table
    where = "point_id = %s AND read_at > %s" + (" AND read_at <= %s" if until else "")
    bounds = [after, *([until] if until else [])]
    if connection.vendor == "sqlite":
        bounds = [_sqlite_text(b) for b in bounds]
    params: list[object] = [point_id, *bounds]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and cuts:
            # Cells are (cut, next cut]: count the cuts strictly before each reading.
            cell = "width_bucket(read_at - interval '1 microsecond', %s::timestamptz[])"
            params = [list(cuts), *params]
        elif connection.vendor == "sqlite" and cuts:
            texts = [_sqlite_text(c) for c in cuts]
            cursor.connection.create_function(
                "pems_cell", 1, lambda text: bisect.bisect_left(texts, text), deterministic=True
            )
            cell = "pems_cell(read_at)"
        else:
            cell = "0"
        cursor.execute(
            f"SELECT {cell} AS cell, min(read_at), max(read_at), min(energy_total), "  # noqa: S608
            f"max(energy_total), count(*), {_AGGREGATES} "
            f"FROM {table} WHERE {where} GROUP BY cell ORDER BY cell",
            params,
        )
        rows = cursor.fetchall()
    cells = []
    for position, first_at, last_at, low, high, count, *registers in rows:
        first: dict[Rate, Decimal] = {}
        last: dict[Rate, Decimal] = {}
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
