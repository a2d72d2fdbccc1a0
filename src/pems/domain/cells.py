"""Pricing from per-cell reading summaries: :func:`price`'s charges in far fewer steps.

The cut points of a tariff (:func:`pems.domain.segments.cut_points`) divide
time into *cells* ``(cut[k-1], cut[k]]`` of constant version, rate and billing
cycle. Inside one cell every interval is a single piece, so a run of readings
there prices exactly like one interval from its first to its last reading
(tiers fill the same way, money is a sum of the same products). Only the
first and last reading of each cell matter, which lets a database aggregate
millions of readings into a few per day before Python sees them.

:func:`price_cells` returns the same :class:`Charges` as
``price(intervals_from_readings(readings))`` for the readings the cells were
made from, provided totals never decrease (a property test holds the two
together). Intervals that cross a cut are split the way :func:`price` splits
them: by time (integer arithmetic on the same floor-rounded grid), or by the
meter's TOU registers through :func:`pems.domain.pricing.split_interval`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from pems.domain.charges import Charges
from pems.domain.errors import UsageError
from pems.domain.pricing import (
    ENERGY_QUANTUM,
    Accumulator,
    MeterReading,
    UsageInterval,
    exact_arithmetic,
    split_interval,
)
from pems.domain.quantities import Quantity
from pems.domain.segments import classify, segments
from pems.domain.tariff import Tariff
from pems.domain.tiers import CycleState
from pems.domain.tou import Rate

_MICROSECOND = timedelta(microseconds=1)
_QUANTA_PER_UNIT = int(1 / ENERGY_QUANTUM)


class Cell(NamedTuple):
    """The first and last reading of one point inside cell ``position`` (see module doc).

    Totals and register values are cumulative (kWh or m³); registers are empty
    when the meter did not report them.
    """

    position: int
    first_at: datetime
    first_total: Decimal
    last_at: datetime
    last_total: Decimal
    first_registers: Mapping[Rate, Decimal] = {}
    last_registers: Mapping[Rate, Decimal] = {}


def cell_index(instant: datetime, cuts: Sequence[datetime]) -> int:
    """Number of cuts strictly before ``instant``: the cell that holds it."""
    return bisect.bisect_left(cuts, instant)


def cells_from_readings(readings: Iterable[MeterReading], cuts: Sequence[datetime]) -> list[Cell]:
    """Group readings (in time order) into cells; what the database does in SQL."""
    cells: list[Cell] = []
    for reading in readings:
        index = cell_index(reading.at, cuts)
        registers = {rate: q.amount for rate, q in reading.registers.items()}
        if cells and cells[-1].position == index:
            cells[-1] = cells[-1]._replace(
                last_at=reading.at, last_total=reading.total.amount, last_registers=registers
            )
        else:
            cells.append(
                Cell(
                    index, reading.at, reading.total.amount, reading.at, reading.total.amount,
                    registers, registers,
                )
            )  # fmt: skip
    return cells


class _Reading(NamedTuple):
    at: datetime
    total: Decimal
    registers: Mapping[Rate, Decimal]
    position: int


_Class = tuple[int, Rate, date]  # (version index, rate, billing cycle start)
#: Classes of cells by position, shareable by every point priced with the same cuts and tariff.
ClassCache = dict[int, _Class]


def price_cells(
    start: MeterReading,
    cells: Sequence[Cell],
    cuts: Sequence[datetime],
    tariff: Tariff,
    cycle: CycleState | None = None,
    *,
    include_fixed: bool = True,
    classes: ClassCache | None = None,
) -> Charges:
    """Price the usage after ``start`` summarised by ``cells`` (made with ``cuts``).

    ``cuts`` must hold every cut point of ``tariff`` after ``start`` up to the
    last cell: ``cut_points(start.at, end, tariff)`` with ``end`` at or after
    the last reading (earlier cuts may be there too). ``classes`` caches cell
    classes across calls with the same ``cuts`` and ``tariff``.
    """
    pricer = _CellPricer(start, cuts, tariff, cycle, {} if classes is None else classes)
    with exact_arithmetic():
        for cell in cells:
            pricer.add_cell(cell)
        return pricer.charges(cells[-1].last_at if cells else None, include_fixed)


class _CellPricer:
    """Feeds the parts of consecutive readings to an :class:`Accumulator`, merged by class."""

    def __init__(
        self,
        start: MeterReading,
        cuts: Sequence[datetime],
        tariff: Tariff,
        cycle: CycleState | None,
        classes: ClassCache,
    ) -> None:
        self.start, self.cuts, self.tariff = start, cuts, tariff
        self.totals = Accumulator(tariff, cycle)
        self.classes = classes
        self.first_class: _Class | None = None
        self.pending: _Class | None = None
        self.pending_amount = Decimal(0)
        registers = {rate: q.amount for rate, q in start.registers.items()}
        self.previous = _Reading(
            start.at, start.total.amount, registers, cell_index(start.at, cuts)
        )

    def add_cell(self, cell: Cell) -> None:
        first = _Reading(cell.first_at, cell.first_total, cell.first_registers, cell.position)
        self._interval(self.previous, first)
        if cell.last_at != cell.first_at:
            last = _Reading(cell.last_at, cell.last_total, cell.last_registers, cell.position)
            self._interval(first, last)
            first = last
        self.previous = first

    def charges(self, end: datetime | None, include_fixed: bool) -> Charges:
        self._flush()
        return self.totals.charges(self.start.at if end else None, end, include_fixed)

    def _class(self, index: int) -> _Class:
        if not index:  # the cell before the first cut: this start's own
            if self.first_class is None:
                self.first_class = classify(self.start.at, self.tariff)
            return self.first_class
        if (known := self.classes.get(index)) is None:
            known = self.classes[index] = classify(self.cuts[index - 1], self.tariff)
        return known

    def _add(self, klass: _Class, amount: Decimal) -> None:
        if klass != self.pending:
            self._flush()
            self.pending = klass
        self.pending_amount += amount

    def _flush(self) -> None:
        if self.pending is not None:
            version, rate, cycle_start = self.pending
            self.totals.add(cycle_start, version, rate, self.pending_amount)
        self.pending, self.pending_amount = None, Decimal(0)

    def _interval(self, before: _Reading, after: _Reading) -> None:
        """Add the energy of (before, after] split the way :func:`price` splits it."""
        if after.at <= before.at or after.total < before.total:
            raise UsageError(
                f"readings at {before.at.isoformat()} and {after.at.isoformat()} go "
                "backwards: resolve rollover or replacement first"
            )
        energy, index = after.total - before.total, after.position
        if before.position == index or (index and before.at == self.cuts[index - 1]):
            self._add(self._class(index), energy)  # inside one cell: a single piece
            return
        with_registers = bool(before.registers) and set(before.registers) == set(after.registers)
        quanta = energy * _QUANTA_PER_UNIT
        if before.position == index - 1 and not with_registers and quanta == int(quanta):
            head, tail = self._class(index - 1), self._class(index)
            if head == tail:
                self._add(tail, energy)
                return
            # pricing.allocate over two pieces, on the same floor-rounded grid, in integers.
            cut = self.cuts[index - 1]
            weight = (cut - before.at) // _MICROSECOND
            whole = (after.at - before.at) // _MICROSECOND
            first = Decimal(int(quanta) * weight // whole) * ENERGY_QUANTUM
            self._add(head, first)
            self._add(tail, energy - first)
            return
        for klass, amount in _reference_parts(before, after, self.tariff):
            self._add(klass, amount)


def _reference_parts(
    before: _Reading, after: _Reading, tariff: Tariff
) -> list[tuple[_Class, Decimal]]:
    """Split one interval with :func:`pems.domain.pricing.split_interval` itself."""
    unit = tariff.unit
    registers = {}
    if before.registers and set(before.registers) == set(after.registers):
        registers = {
            rate: Quantity(after.registers[rate] - before.registers[rate], unit)
            for rate in after.registers
        }
    quantity = Quantity(after.total - before.total, unit)
    interval = UsageInterval(before.at, after.at, quantity, registers)
    pieces = segments(interval.start, interval.end, tariff)
    return [
        ((piece.version, rate, piece.cycle), amount)
        for piece, rate, amount in split_interval(interval, pieces, tariff)
    ]
