"""Reading usage from CSV text: meter totals or intervals.

Two layouts, told apart by the header row:

* meter totals: ``timestamp,total_kwh[,sharp,peak,flat,valley]`` (any subset
  of the four TOU register columns; ``total_m3`` for water);
* intervals: ``start,end,kwh`` (or ``m3``).

Timestamps are ISO 8601 with a UTC offset (``2025-03-01T08:00:00+08:00`` or
``…Z``). Blank lines and lines starting with ``#`` are skipped. Every bad cell
is reported as ``row N, column NAME: …`` (N counts file lines, header = 1) in
one :class:`UsageFileError`, as a marked English template with its values
(:class:`~pems.domain.errors.FileProblem`) that the Django side translates.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from pems.domain.errors import FileProblem, UsageFileError
from pems.domain.messages import Param, gettext_noop
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
    """A row's problem, in ``column`` (None: the row), its row number filled in by the caller."""

    def __init__(self, column: str | None, template: str, /, **params: Param) -> None:
        super().__init__(template)
        self.problem = FileProblem.of(0, column, template, **params)

    def at(self, row: int) -> FileProblem:
        return replace(self.problem, row=row)


def _cell(row: dict[str, str], column: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise _RowError(column, gettext_noop("is empty"))
    return value


def _instant(row: dict[str, str], column: str) -> datetime:
    text = _cell(row, column)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        template = gettext_noop("'%(value)s' is not an ISO 8601 timestamp")
        raise _RowError(column, template, value=text) from None
    if moment.tzinfo is None:
        template = gettext_noop("'%(value)s' has no UTC offset (add e.g. +08:00 or Z)")
        raise _RowError(column, template, value=text)
    return moment


def _amount(row: dict[str, str], column: str, unit: Unit) -> Quantity:
    text = _cell(row, column)
    try:
        value = D(text)
    except ValueError:
        raise _RowError(column, gettext_noop("'%(value)s' is not a number"), value=text) from None
    if value < 0:
        raise _RowError(column, gettext_noop("%(value)s is negative"), value=text)
    return Quantity(value, unit)


def _layout(header: list[str]) -> tuple[UsageKind, Unit, list[Rate]]:
    names = [h.strip().lower() for h in header]
    for unit in Unit:
        column = unit.value.lower()
        if names[:2] == ["timestamp", f"total_{column}"]:
            rates = []
            for name in names[2:]:
                if name not in {r.value for r in Rate}:
                    template = gettext_noop("expected sharp, peak, flat or valley")
                    raise _RowError(name or "''", template)
                rates.append(Rate(name))
            return UsageKind.TOTALS, unit, rates
        if names == ["start", "end", column]:
            return UsageKind.INTERVALS, unit, []
    template = gettext_noop(
        "header '%(header)s': expected 'timestamp,total_kwh[,sharp,peak,flat,valley]' "
        "or 'start,end,kwh' (m3 for water)"
    )
    raise _RowError(None, template, header=",".join(header))


def load_usage(text: str, source: str = "<usage>") -> UsageData:
    """Parse and validate usage CSV text."""
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise UsageFileError(
            source, [FileProblem.of(0, None, gettext_noop("the file has no header row"))]
        )
    header_row, header_line = lines[0]
    header = next(csv.reader([header_line]))
    try:
        kind, unit, rates = _layout(header)
    except _RowError as error:
        raise UsageFileError(source, [error.at(header_row)]) from None
    problems: list[FileProblem] = []
    records: list[tuple[int, MeterReading | UsageInterval]] = []
    names = [h.strip().lower() for h in header]
    for number, line in lines[1:]:
        cells = next(csv.reader([line]))
        if len(cells) != len(names):
            template = gettext_noop("expected %(expected)s columns, got %(got)s")
            problems.append(
                FileProblem.of(number, None, template, expected=len(names), got=len(cells))
            )
            continue
        row = dict(zip(names, cells, strict=True))
        try:
            records.append((number, _record(kind, unit, rates, row)))
        except _RowError as error:
            problems.append(error.at(number))
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
            raise _RowError("end", gettext_noop("must be after start"))
        return UsageInterval(start, end, _amount(row, unit.value.lower(), unit))
    registers = {rate: _amount(row, rate.value, unit) for rate in rates}
    total = _amount(row, f"total_{unit.value.lower()}", unit)
    return MeterReading(_instant(row, "timestamp"), total, MappingProxyType(registers))


def _order_problems(records: list[tuple[int, MeterReading | UsageInterval]]) -> list[FileProblem]:
    """Rows out of time order, overlapping, or with a meter register that went down."""
    problems = []
    fell = gettext_noop("fell from %(old)s to %(new)s (meter rollover or replacement?)")
    for (_, before), (number, after) in itertools.pairwise(records):
        if isinstance(before, UsageInterval) and isinstance(after, UsageInterval):
            if after.start < before.end:
                template = gettext_noop("overlaps the previous interval")
                problems.append(FileProblem.of(number, "start", template))
        elif isinstance(before, MeterReading) and isinstance(after, MeterReading):
            if after.at <= before.at:
                template = gettext_noop("not after the previous row")
                problems.append(FileProblem.of(number, "timestamp", template))
            pairs = [(f"total_{before.total.unit.value.lower()}", before.total, after.total)]
            pairs += [(r.value, before.registers[r], q) for r, q in after.registers.items()]
            for column, old, new in pairs:
                if new.amount < old.amount:
                    problems.append(
                        FileProblem.of(number, column, fell, old=old.amount, new=new.amount)
                    )
    return problems
