"""Metered quantities: energy in kWh and water in m³, exact Decimals with a unit.

Quantities of different units never mix (:class:`UnitMismatchError`), and no
float is ever accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from pems.domain.errors import FloatNotAllowedError, UnitMismatchError
from pems.domain.money import D, DecimalLike


class Unit(StrEnum):
    """Unit of a metered quantity."""

    KWH = "kWh"
    M3 = "m3"

    @property
    def symbol(self) -> str:
        """Human-readable symbol (``kWh``, ``m³``)."""
        return "m³" if self is Unit.M3 else "kWh"

    @classmethod
    def parse(cls, text: str) -> Unit:
        """Parse ``kWh``/``kwh`` or ``m3``/``m³``."""
        normal = text.strip().lower().replace("³", "3")
        for unit in cls:
            if unit.value.lower() == normal:
                return unit
        raise ValueError(f"{text!r} is not a unit (kWh or m3)")


@dataclass(frozen=True, slots=True)
class Quantity:
    """An exact amount of a metered unit."""

    amount: Decimal
    unit: Unit

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise FloatNotAllowedError(f"Quantity refuses float {self.amount!r}")
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise TypeError(f"Quantity amount must be a finite Decimal, not {self.amount!r}")
        if not isinstance(self.unit, Unit):
            raise TypeError(f"{self.unit!r} is not a Unit")

    @classmethod
    def of(cls, amount: DecimalLike, unit: Unit) -> Quantity:
        """Build from a str, int or Decimal (never a float)."""
        return cls(D(amount), unit)

    @classmethod
    def zero(cls, unit: Unit) -> Quantity:
        """Zero of ``unit``."""
        return cls(Decimal(0), unit)

    def _same(self, other: object) -> Quantity:
        if not isinstance(other, Quantity):
            raise TypeError(f"cannot combine Quantity with {type(other).__name__}")
        if other.unit is not self.unit:
            raise UnitMismatchError(f"cannot combine {self.unit.symbol} with {other.unit.symbol}")
        return other

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.amount + self._same(other).amount, self.unit)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.amount - self._same(other).amount, self.unit)

    def __lt__(self, other: Quantity) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Quantity) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Quantity) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Quantity) -> bool:
        return self.amount >= self._same(other).amount

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.symbol}"


def kwh(amount: DecimalLike) -> Quantity:
    """Energy in kWh."""
    return Quantity.of(amount, Unit.KWH)


def m3(amount: DecimalLike) -> Quantity:
    """Water volume in m³."""
    return Quantity.of(amount, Unit.M3)
