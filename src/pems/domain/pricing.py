"""Pricing usage under a versioned tariff: ``price(usage, tariff, cycle) -> Charges``.

Allocation rules (see docs/tariffs.md):

* An interval is cut into segments of constant version, TOU rate and billing
  cycle (:mod:`pems.domain.segments`). Its energy is spread over the segments
  in proportion to their duration (time-proportional allocation).
* When the interval covers more than one rate and the meter supplied its own
  TOU register deltas, the energy is split between rates in the ratio of those
  deltas instead, and each rate's share is spread over that rate's segments by
  time (over the whole interval if the schedule has no such segment). A
  meter whose registers hold energy at a rate the tariff does not price is
  split by time instead.
* Allocation works on a grid of :data:`ENERGY_QUANTUM` with cumulative
  floor rounding, so the parts always add up exactly to the interval energy.
* Segments are taken in time order and fill the tiers of their cycle; a
  boundary inside a segment splits it exactly.
* Lines are grouped by (billing cycle, version, rate, tier); each line's exact amount is
  rounded once (see :mod:`pems.domain.charges`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from types import MappingProxyType
from typing import NamedTuple

from pems.domain.charges import Charges, EnergyLine
from pems.domain.errors import UnitMismatchError, UsageError
from pems.domain.fees import fixed_charges
from pems.domain.money import round_money
from pems.domain.quantities import Quantity
from pems.domain.segments import Segment, segments
from pems.domain.tariff import Tariff
from pems.domain.tiers import CycleState
from pems.domain.tou import Rate

#: Resolution of time-proportional energy allocation (in kWh or m³).
ENERGY_QUANTUM = Decimal("0.000001")

_NO_REGISTERS: Mapping[Rate, Quantity] = MappingProxyType({})
_RATE_ORDER = {rate: i for i, rate in enumerate(Rate)}


@dataclass(frozen=True)
class UsageInterval:
    """``quantity`` consumed in [start, end); optional per-rate meter register deltas."""

    start: datetime
    end: datetime
    quantity: Quantity
    registers: Mapping[Rate, Quantity] = field(default_factory=lambda: _NO_REGISTERS)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise UsageError(f"interval {self.start}..{self.end}: datetimes must be aware")
        # Python compares and subtracts two datetimes of one zone by wall clock; UTC is exact.
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.end <= self.start:
            raise UsageError(f"interval {self.start.isoformat()}: end must be after start")
        for name, value in [("quantity", self.quantity), *self.registers.items()]:
            if value.unit is not self.quantity.unit:
                raise UnitMismatchError(f"interval {self.start.isoformat()}: {name} unit differs")
            if value.amount < 0:
                raise UsageError(f"interval {self.start.isoformat()}: {name} is negative")


@dataclass(frozen=True)
class MeterReading:
    """A meter's cumulative total (and optional TOU registers) at an instant."""

    at: datetime
    total: Quantity
    registers: Mapping[Rate, Quantity] = field(default_factory=lambda: _NO_REGISTERS)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise UsageError(f"reading at {self.at}: datetime must be aware")
        object.__setattr__(self, "at", self.at.astimezone(UTC))


def intervals_from_readings(readings: Sequence[MeterReading]) -> tuple[UsageInterval, ...]:
    """Consecutive readings to intervals of their deltas.

    Timestamps must strictly increase and totals never decrease (a rollover or
    meter replacement must be resolved before pricing). Register deltas are
    kept only when both readings carry the same registers.
    """
    intervals = []
    for before, after in itertools.pairwise(readings):
        if after.at <= before.at:
            raise UsageError(f"reading at {after.at.isoformat()} is not after the previous one")
        delta = after.total - before.total
        if delta.amount < 0:
            raise UsageError(
                f"meter total fell from {before.total} to {after.total} at "
                f"{after.at.isoformat()}: resolve rollover or replacement first"
            )
        registers: dict[Rate, Quantity] = {}
        if before.registers and set(before.registers) == set(after.registers):
            registers = {r: after.registers[r] - before.registers[r] for r in after.registers}
        intervals.append(UsageInterval(before.at, after.at, delta, MappingProxyType(registers)))
    return tuple(intervals)


def allocate(total: Decimal, weights: Sequence[Decimal | int]) -> list[Decimal]:
    """Split ``total`` in proportion to non-negative ``weights``; parts sum exactly to it."""
    whole = sum(weights, Decimal(0))
    if whole <= 0:
        raise ValueError("allocation needs a positive total weight")
    parts, previous, running = [], Decimal(0), Decimal(0)
    for index, weight in enumerate(weights):
        running += weight
        if index == len(weights) - 1:
            point = total
        else:
            point = (total * running / whole).quantize(ENERGY_QUANTUM, rounding=ROUND_FLOOR)
        parts.append(point - previous)
        previous = point
    return parts


Part = tuple[Segment, Rate, Decimal]


def _usable_registers(
    interval: UsageInterval, pieces: list[Segment], tariff: Tariff
) -> dict[Rate, Decimal]:
    """Register deltas to split by, or none when the tariff cannot use them.

    They are used only when the interval covers several rates and every rate
    with register energy has a price in every version touching the interval
    (a meter whose TOU table knows rates the tariff does not is ignored).
    """
    registers = {r: q.amount for r, q in interval.registers.items() if q.amount > 0}
    if len({p.rate for p in pieces}) < 2:
        return {}
    versions = [tariff.versions[index] for index in {p.version for p in pieces}]
    if any(rate not in v.prices for v in versions for rate in registers):
        return {}
    return registers


def split_interval(interval: UsageInterval, pieces: list[Segment], tariff: Tariff) -> list[Part]:
    """The interval's energy per (segment, rate), in time order."""
    total = interval.quantity.amount
    registers = _usable_registers(interval, pieces, tariff)
    if not registers:
        shares = allocate(total, [p.micros for p in pieces])
        return [(p, p.rate, q) for p, q in zip(pieces, shares, strict=True)]
    rates = sorted(registers, key=_RATE_ORDER.__getitem__)
    parts: list[Part] = []
    for rate, share in zip(rates, allocate(total, [registers[r] for r in rates]), strict=True):
        targets = [p for p in pieces if p.rate == rate] or pieces
        for piece, q in zip(targets, allocate(share, [p.micros for p in targets]), strict=True):
            parts.append((piece, rate, q))
    parts.sort(key=lambda part: (part[0].start, _RATE_ORDER[part[1]]))
    return parts


def _ordered(usage: Sequence[UsageInterval], tariff: Tariff) -> list[UsageInterval]:
    intervals = sorted(usage, key=lambda i: i.start)
    for interval in intervals:
        if interval.quantity.unit is not tariff.unit:
            raise UnitMismatchError(
                f"usage in {interval.quantity.unit.symbol}, tariff {tariff.name!r} "
                f"in {tariff.unit.symbol}"
            )
    for a, b in itertools.pairwise(intervals):
        if b.start < a.end:
            raise UsageError(
                f"intervals overlap at {b.start.isoformat()}: energy would count twice"
            )
    return intervals


def _advance(state: CycleState | None, cycle: CycleState) -> CycleState:
    """Cycle state for a part in ``cycle`` (given with zero usage)."""
    if state is None or state.start < cycle.start:
        return cycle
    if state.start > cycle.start:
        raise UsageError(
            f"usage in the cycle of {cycle.start} is older than the cycle state "
            f"({state.start}); price usage in time order"
        )
    return state


class _Key(NamedTuple):
    """What makes a breakdown line: cycle, version index, rate, tier number."""

    cycle: date
    version: int
    rate: Rate
    tier: int | None

    def order(self) -> tuple[date, int, int, int]:
        return (self.cycle, self.version, _RATE_ORDER[self.rate], self.tier or 0)


_Sums = dict[_Key, tuple[Decimal, Decimal]]


def _add(
    sums: _Sums,
    tariff: Tariff,
    cycle: CycleState,
    index: int,
    rate: Rate,
    amount: Decimal,
) -> None:
    """Add ``amount`` at ``rate`` under version ``index`` to the line sums, tier by tier."""
    version = tariff.versions[index]
    base = version.rate_price(rate)
    if version.tiers is None:
        bands: list[tuple[int | None, Decimal, Decimal]] = [(None, amount, Decimal(0))]
    else:
        table = version.tiers.tiers
        bands = [
            (i + 1, q, table[i].surcharge)
            for i, q in version.tiers.split(cycle.used.amount, amount)
        ]
    for tier, quantity, surcharge in bands:
        key = _Key(cycle.start, index, rate, tier)
        old_quantity, old_money = sums.get(key, (Decimal(0), Decimal(0)))
        sums[key] = (
            old_quantity + quantity,
            old_money + quantity * (base + surcharge),
        )


class Accumulator:
    """Energy parts in time order → breakdown line sums, filling each cycle's tiers."""

    def __init__(self, tariff: Tariff, cycle: CycleState | None) -> None:
        if cycle is not None and cycle.used.unit is not tariff.unit:
            raise UnitMismatchError("cycle state unit differs from the tariff unit")
        self.tariff, self.cycle = tariff, cycle
        self.sums: _Sums = {}
        self._zero = Quantity.zero(tariff.unit)

    def add(self, cycle_start: date, version: int, rate: Rate, amount: Decimal) -> None:
        """Add the next part (call in time order, inside :func:`exact_arithmetic`)."""
        cycle = _advance(self.cycle, CycleState(cycle_start, self._zero))
        _add(self.sums, self.tariff, cycle, version, rate, amount)
        self.cycle = CycleState(cycle.start, Quantity(cycle.used.amount + amount, self.tariff.unit))

    def add_placed(
        self, cycle_start: date, version: int, rate: Rate, tier: int | None, amount: Decimal
    ) -> None:
        """Add a quantity already placed in its tier (``pems.billing.lines_sql`` does that in
        bulk). The cycle state is not moved: set it with :meth:`resume`.
        """
        key = _Key(cycle_start, version, rate, tier)
        version_row = self.tariff.versions[version]
        tiers = version_row.tiers
        surcharge = tiers.tiers[tier - 1].surcharge if tiers and tier else Decimal(0)
        old_quantity, old_money = self.sums.get(key, (Decimal(0), Decimal(0)))
        price = version_row.rate_price(rate) + surcharge
        self.sums[key] = (old_quantity + amount, old_money + amount * price)

    def resume(self, cycle: CycleState) -> None:
        """Go on from ``cycle`` (after :meth:`add_placed`): the next parts fill its tiers."""
        self.cycle = cycle

    def charges(self, start: datetime | None, end: datetime | None, include_fixed: bool) -> Charges:
        """The priced result for usage from ``start`` to ``end`` (None: no usage)."""
        tariff = self.tariff
        lines = _energy_lines(self.sums, tariff)
        fixed = (
            fixed_charges(tariff, start, end)
            if include_fixed and start is not None and end is not None
            else ()
        )
        return Charges(
            tariff=tariff.name,
            currency=tariff.currency,
            unit=tariff.unit,
            start=start.astimezone(tariff.zone) if start else None,
            end=end.astimezone(tariff.zone) if end else None,
            energy_lines=lines,
            fixed_lines=fixed,
            cycle=self.cycle,
        )


def exact_arithmetic() -> AbstractContextManager[Context]:
    """Decimal context that keeps products and quotients exact for realistic sizes."""
    return localcontext(prec=60)


def price(
    usage: Sequence[UsageInterval],
    tariff: Tariff,
    cycle: CycleState | None = None,
    *,
    include_fixed: bool = True,
) -> Charges:
    """Price ``usage`` under ``tariff``, continuing tier accumulation from ``cycle``.

    Returns the breakdown lines, fixed charges for [first start, last end)
    (unless ``include_fixed`` is false) and the updated cycle state.
    """
    intervals = _ordered(usage, tariff)
    totals = Accumulator(tariff, cycle)
    with exact_arithmetic():
        for interval in intervals:
            pieces = segments(interval.start, interval.end, tariff)
            for piece, rate, amount in split_interval(interval, pieces, tariff):
                totals.add(piece.cycle, piece.version, rate, amount)
        return totals.charges(
            intervals[0].start if intervals else None,
            intervals[-1].end if intervals else None,
            include_fixed,
        )


def _energy_lines(sums: _Sums, tariff: Tariff) -> tuple[EnergyLine, ...]:
    lines = []
    for key in sorted(sums, key=_Key.order):
        quantity, exact = sums[key]
        if quantity == 0:
            continue
        version = tariff.versions[key.version]
        tiers = version.tiers
        surcharge = tiers.tiers[key.tier - 1].surcharge if tiers and key.tier else Decimal(0)
        lines.append(
            EnergyLine(
                cycle=key.cycle,
                version=version.id,
                rate=key.rate,
                tier=key.tier,
                quantity=Quantity(quantity, tariff.unit),
                unit_price=version.rate_price(key.rate) + surcharge,
                exact_amount=exact,
                amount=round_money(exact, tariff.currency),
            )
        )
    return tuple(lines)
