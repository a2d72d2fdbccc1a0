"""The result of pricing: breakdown lines and totals.

Rounding policy: every line carries its exact amount (a Decimal, never
rounded) and its amount rounded once to the minor unit with
:data:`pems.domain.money.ROUNDING`. Every total is the sum of rounded lines,
so a printed bill always adds up; a total differs from the exact sum by at
most half a minor unit per line.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pems.domain.money import Money, sum_money
from pems.domain.quantities import Quantity, Unit
from pems.domain.tariff import ChargePeriod
from pems.domain.tiers import CycleState
from pems.domain.tou import Rate


@dataclass(frozen=True)
class EnergyLine:
    """Consumption in one billing cycle at one rate in one tier under one version.

    ``cycle`` is the cycle's first local date; ``tier`` counts from 1 (None
    when the version has no tiers); ``unit_price`` is the rate price plus the
    tier surcharge.
    """

    cycle: date
    version: str
    rate: Rate
    tier: int | None
    quantity: Quantity
    unit_price: Decimal
    exact_amount: Decimal
    amount: Money


@dataclass(frozen=True)
class FixedLine:
    """A fixed charge for the local days of one month under one version."""

    version: str
    name: str
    per: ChargePeriod
    month: str
    days: int
    exact_amount: Decimal
    amount: Money


Breakdown = Literal["version", "rate", "tier"]


@dataclass(frozen=True)
class Subtotal:
    """Quantity and money of a group of energy lines."""

    quantity: Quantity
    amount: Money


@dataclass(frozen=True)
class Charges:
    """Everything one pricing run produced; totals are sums of rounded lines."""

    tariff: str
    currency: str
    unit: Unit
    start: datetime | None
    end: datetime | None
    energy_lines: tuple[EnergyLine, ...]
    fixed_lines: tuple[FixedLine, ...]
    cycle: CycleState | None

    @property
    def energy(self) -> Quantity:
        """Total quantity priced."""
        total = Quantity.zero(self.unit)
        for line in self.energy_lines:
            total = total + line.quantity
        return total

    @property
    def energy_amount(self) -> Money:
        """Money for consumption (sum of rounded energy lines)."""
        return sum_money([line.amount for line in self.energy_lines], self.currency)

    @property
    def fixed_amount(self) -> Money:
        """Money for fixed charges (sum of rounded fixed lines)."""
        return sum_money([line.amount for line in self.fixed_lines], self.currency)

    @property
    def total(self) -> Money:
        """Energy plus fixed charges."""
        return self.energy_amount + self.fixed_amount

    @property
    def exact_total(self) -> Decimal:
        """Sum of the exact, unrounded line amounts (for carrying residues)."""
        energy = sum((line.exact_amount for line in self.energy_lines), Decimal(0))
        return energy + sum((line.exact_amount for line in self.fixed_lines), Decimal(0))

    def subtotals(self, by: Breakdown) -> dict[Hashable, Subtotal]:
        """Energy quantity and money per version id, per rate or per tier number.

        Money subtotals are sums of rounded lines, so they add up to
        :attr:`energy_amount`. Keys keep the order of the lines.
        """
        key: Callable[[EnergyLine], Hashable] = {
            "version": lambda line: line.version,
            "rate": lambda line: line.rate,
            "tier": lambda line: line.tier,
        }[by]
        result: dict[Hashable, Subtotal] = {}
        for line in self.energy_lines:
            old = result.get(key(line))
            result[key(line)] = (
                Subtotal(line.quantity, line.amount)
                if old is None
                else Subtotal(old.quantity + line.quantity, old.amount + line.amount)
            )
        return result
