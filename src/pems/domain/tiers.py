"""Tiered (阶梯) pricing: cumulative usage bands within a billing cycle.

A billing cycle is a local calendar month or year. Usage accumulates from the
cycle's first local midnight; a :class:`CycleState` carries what was already
billed, is passed into pricing and comes back updated. Each tier adds a
per-unit *surcharge* to the TOU (or flat) price of the consumption time, so
TOU prices stay one table and tiers stay one column of numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pems.domain.errors import TariffError
from pems.domain.messages import Message, Param, gettext_noop
from pems.domain.quantities import Quantity

#: A tier's problem: a tariff file's reader shows the inner problem at the tier's path.
AT_TIER = gettext_noop("tiers[%(index)s].up_to: %(problem)s")


def _tier_error(index: int, template: str, /, **params: Param) -> TariffError:
    return TariffError(Message.of(AT_TIER, index=index, problem=Message.of(template, **params)))


class BillingCycle(StrEnum):
    """Length of a tier accumulation cycle."""

    MONTH = "month"
    YEAR = "year"


def cycle_start(day: date, cycle: BillingCycle) -> date:
    """First local date of the cycle containing ``day``."""
    return day.replace(day=1) if cycle is BillingCycle.MONTH else day.replace(month=1, day=1)


def next_cycle_start(start: date, cycle: BillingCycle) -> date:
    """First local date of the cycle after the one starting at ``start``."""
    if cycle is BillingCycle.YEAR:
        return date(start.year + 1, 1, 1)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


@dataclass(frozen=True)
class CycleState:
    """Usage already billed in the cycle that starts on local date ``start``."""

    start: date
    used: Quantity


@dataclass(frozen=True)
class Tier:
    """A band up to ``up_to`` cumulative units (None: no upper bound)."""

    up_to: Decimal | None
    surcharge: Decimal


@dataclass(frozen=True)
class TierTable:
    """Ordered tiers; bounds strictly increase and only the last is open."""

    tiers: tuple[Tier, ...]

    def __post_init__(self) -> None:
        if not self.tiers:
            raise TariffError(Message(gettext_noop("a tier table needs at least one tier")))
        previous = Decimal(0)
        for index, tier in enumerate(self.tiers):
            last = index == len(self.tiers) - 1
            if tier.up_to is None and not last:
                raise _tier_error(index, gettext_noop("only the last tier may be open-ended"))
            if last and tier.up_to is not None:
                raise _tier_error(index, gettext_noop("the last tier must be open-ended"))
            if tier.up_to is not None:
                if tier.up_to <= previous:
                    template = gettext_noop("%(bound)s must exceed the previous bound %(previous)s")
                    raise _tier_error(index, template, bound=tier.up_to, previous=previous)
                previous = tier.up_to

    def split(self, used_before: Decimal, amount: Decimal) -> list[tuple[int, Decimal]]:
        """Split ``amount`` consumed after ``used_before`` into (tier index, amount) parts.

        Exact: the parts sum to ``amount`` and each boundary is hit exactly.
        """
        parts: list[tuple[int, Decimal]] = []
        position, remaining = used_before, amount
        for index, tier in enumerate(self.tiers):
            if remaining <= 0:
                break
            if tier.up_to is not None and position >= tier.up_to:
                continue
            room = remaining if tier.up_to is None else min(remaining, tier.up_to - position)
            parts.append((index, room))
            position += room
            remaining -= room
        return parts
