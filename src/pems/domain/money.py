"""Money: an exact Decimal amount in an ISO 4217 currency.

Rules:

* No float is ever accepted: :func:`D` and :class:`Money` raise
  :class:`~pems.domain.errors.FloatNotAllowedError` when given one.
* A :class:`Money` always holds a whole number of the currency's minor units
  (0.01 CNY, 1 JPY). Exact intermediate results (prices times quantities) stay
  plain ``Decimal`` and become money only through :func:`round_money`, the one
  place where rounding happens, with the one named rule :data:`ROUNDING`.
* Arithmetic and comparison only between the same currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final

from pems.domain.errors import CurrencyError, FloatNotAllowedError, PrecisionError
from pems.domain.messages import Message, gettext_noop

#: The one rounding rule of PEMS: half a minor unit rounds away from zero.
ROUNDING: Final = ROUND_HALF_UP

_TOO_LARGE = gettext_noop("%(amount)s is too large for money")

#: Minor-unit digits of the currencies PEMS may be deployed with (ISO 4217).
MINOR_UNITS: Final = MappingProxyType(
    {
        "CNY": 2,
        "HKD": 2,
        "MOP": 2,
        "TWD": 2,
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "SGD": 2,
        "MYR": 2,
        "THB": 2,
        "PHP": 2,
        "IDR": 2,
        "INR": 2,
        "AUD": 2,
        "NZD": 2,
        "CAD": 2,
        "CHF": 2,
        "JPY": 0,
        "KRW": 0,
        "VND": 0,
        "KWD": 3,
        "BHD": 3,
    }
)

DecimalLike = Decimal | int | str


def D(value: DecimalLike) -> Decimal:
    """Make an exact, finite Decimal from a Decimal, an int or a decimal string.

    Floats (and bools) are refused: a float has already lost the exact value.
    """
    if isinstance(value, float):
        raise FloatNotAllowedError(f"float {value!r} refused: pass a str or Decimal")
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{type(value).__name__} is not a decimal value")
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    else:
        result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


#: Each currency's minor unit, worked out once: every amount of money is checked against it.
_MINOR: Final = MappingProxyType({c: Decimal(1).scaleb(-d) for c, d in MINOR_UNITS.items()})


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``, e.g. ``Decimal("0.01")`` for CNY."""
    try:
        return _MINOR[currency]
    except KeyError:
        raise CurrencyError(f"unknown currency {currency!r}") from None


def round_money(amount: Decimal, currency: str) -> Money:
    """Round an exact amount to the currency's minor unit with :data:`ROUNDING`."""
    if not isinstance(amount, Decimal):
        raise FloatNotAllowedError(f"round_money needs a Decimal, not {type(amount).__name__}")
    try:
        rounded = amount.quantize(minor_unit(currency), rounding=ROUNDING)
    except InvalidOperation:
        raise PrecisionError(Message.of(_TOO_LARGE, amount=amount)) from None
    return Money(rounded, currency)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of money, exact to the minor unit of its currency."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            if isinstance(self.amount, float):
                raise FloatNotAllowedError(f"Money refuses float {self.amount!r}")
            raise TypeError(f"Money amount must be a Decimal, not {type(self.amount).__name__}")
        if not self.amount.is_finite():
            raise ValueError(f"Money amount {self.amount} is not finite")
        quantum = minor_unit(self.currency)
        try:
            normal = self.amount.quantize(quantum, rounding=ROUNDING)
        except InvalidOperation:
            raise PrecisionError(Message.of(_TOO_LARGE, amount=self.amount)) from None
        if normal != self.amount:
            template = gettext_noop(
                "%(amount)s has more decimals than %(currency)s allows; use round_money()"
            )
            raise PrecisionError(Message.of(template, amount=self.amount, currency=self.currency))
        object.__setattr__(self, "amount", normal)

    @classmethod
    def of(cls, amount: DecimalLike, currency: str) -> Money:
        """Build from a str, int or Decimal (never a float); must be exact to the minor unit."""
        return cls(D(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``."""
        return cls(Decimal(0), currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyError(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def sum_money(items: list[Money] | tuple[Money, ...], currency: str) -> Money:
    """Sum of money items, all in ``currency`` (zero for none)."""
    total = Money.zero(currency)
    for item in items:
        total = total + item
    return total
