"""Reading usage from CSV text: meter totals or intervals.

Two layouts, told apart by the header row:

* meter totals: ``timestamp,total_kwh[,sharp,peak,flat,valley]`` (any subset
  of the four TOU register columns; ``total_m3`` for water);
* intervals: ``start,end,kwh`` (or ``m3``).

Timestamps are ISO 8601 with a UTC offset (``2025-03-01T08:00:00+08:00`` or
``…Z``). Blank lines and lines starting with ``#`` are skipped. Every bad cell
is reported as ``row N, column NAME: …`` (N counts file lines, header = 1) in
one :class:`UsageFileError`.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from pems.domain.errors import UsageFileError
from pems.domain.money import D
from pems.domain.pricing import MeterReading, UsageInterval, intervals_from_readings
from pems.domain.quantities import Quantity, Unit
from pems.domain.tou import Rate

MAX_PROBLEMS = 50


class UsageKind(StrEnum):
    """Layout of a usage file."""

    TOTALS = "totals"
    INTERVALS = "intervals"


@dataclass(frozen=True)
class UsageData:
    """Parsed usage: intervals ready to price, and the readings they came from."""

    kind: UsageKind
    unit: Unit
    intervals: tuple[UsageInterval, ...]
    readings: tuple[MeterReading, ...] = ()


class _RowError(Exception):
    pass


def _cell(row: dict[str, str], column: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise _RowError(f"column {column}: empty")
    return value


def _instant(row: dict[str, str], column: str) -> datetime:
    text = _cell(row, column)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _RowError(f"column {column}: {text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise _RowError(f"column {column}: {text!r} has no UTC offset (add e.g. +08:00 or Z)")
    return moment


def _amount(row: dict[str, str], column: str, unit: Unit) -> Quantity:
    text = _cell(row, column)
    try:
        value = D(text)
    except ValueError:
        raise _RowError(f"column {column}: {text!r} is not a number") from None
    if value < 0:
        raise _RowError(f"column {column}: {text} is negative")
    return Quantity(value, unit)


def _layout(header: list[str]) -> tuple[UsageKind, Unit, list[Rate]]:
    names = [h.strip().lower() for h in header]
    for unit in Unit:
        column = unit.value.lower()
        if names[:2] == ["timestamp", f"total_{column}"]:
            rates = []
            for name in names[2:]:
                if name not in {r.value for r in Rate}:
                    raise _RowError(f"column {name!r}: expected sharp, peak, flat or valley")
                rates.append(Rate(name))
            return UsageKind.TOTALS, unit, rates
        if names == ["start", "end", column]:
            return UsageKind.INTERVALS, unit, []
    raise _RowError(
        f"header {','.join(header)!r}: expected 'timestamp,total_kwh[,sharp,peak,flat,valley]' "
        "or 'start,end,kwh' (m3 for water)"
    )


def load_usage(text: str, source: str = "<usage>") -> UsageData:
    """Parse and validate usage CSV text."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise UsageFileError(source, ["the file has no header row"])
    header_row, header_line = lines[0]
    header = next(csv.reader([header_line]))
    try:
        kind, unit, rates = _layout(header)
    except _RowError as error:
        raise UsageFileError(source, [f"row {header_row}, {error}"]) from None
    problems: list[str] = []
    records: list[tuple[int, MeterReading | UsageInterval]] = []
    names = [h.strip().lower() for h in header]
    for number, line in lines[1:]:
        cells = next(csv.reader([line]))
        if len(cells) != len(names):
            problems.append(f"row {number}: expected {len(names)} columns, got {len(cells)}")
            continue
        row = dict(zip(names, cells, strict=True))
        try:
            records.append((number, _record(kind, unit, rates, row)))
        except _RowError as error:
            problems.append(f"row {number}, {error}")
        if len(problems) >= MAX_PROBLEMS:
            break
    problems += _order_problems(records)
    if problems:
        raise UsageFileError(source, problems[:MAX_PROBLEMS])
    if kind is UsageKind.INTERVALS:
        intervals = tuple(r for _, r in records if isinstance(r, UsageInterval))
        return UsageData(kind, unit, intervals)
    readings = tuple(r for _, r in records if isinstance(r, MeterReading))
    return UsageData(kind, unit, intervals_from_readings(readings), readings)


def _record(
    kind: UsageKind, unit: Unit, rates: list[Rate], row: dict[str, str]
) -> MeterReading | UsageInterval:
    if kind is UsageKind.INTERVALS:
        start, end = _instant(row, "start"), _instant(row, "end")
        if end <= start:
            raise _RowError("column end: must be after start")
        return UsageInterval(start, end, _amount(row, unit.value.lower(), unit))
    registers = {rate: _amount(row, rate.value, unit) for rate in rates}
    total = _amount(row, f"total_{unit.value.lower()}", unit)
    return MeterReading(_instant(row, "timestamp"), total, MappingProxyType(registers))


def _order_problems(records: list[tuple[int, MeterReading | UsageInterval]]) -> list[str]:
    """Rows out of time order, overlapping, or with a meter register that went down."""
    problems = []
    for (_, before), (number, after) in itertools.pairwise(records):
        if isinstance(before, UsageInterval) and isinstance(after, UsageInterval):
            if after.start < before.end:
                problems.append(f"row {number}, column start: overlaps the previous interval")
        elif isinstance(before, MeterReading) and isinstance(after, MeterReading):
            if after.at <= before.at:
                problems.append(f"row {number}, column timestamp: not after the previous row")
            pairs = [(f"total_{before.total.unit.value.lower()}", before.total, after.total)]
            pairs += [(r.value, before.registers[r], q) for r, q in after.registers.items()]
            for column, old, new in pairs:
                if new.amount < old.amount:
                    problems.append(
                        f"row {number}, column {column}: fell from {old.amount} to {new.amount} "
                        "(meter rollover or replacement?)"
                    )
    return problems
