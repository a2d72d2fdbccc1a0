"""Tariffs: versions with effective dates, each with prices, TOU, tiers and fees.

A tariff belongs to a site time zone; every version takes effect at an aware
instant (normally local midnight). Consumption is priced by the version in
force at the consumption time, so a new version never reprices the past. Tier
usage accumulates per billing cycle regardless of versions: a version that
starts mid-cycle applies its own tier bounds to the usage already accumulated.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from pems.domain.calendar import DayCalendar
from pems.domain.errors import TariffError, TariffNotInForceError
from pems.domain.messages import Message, Param, gettext_noop
from pems.domain.money import Money
from pems.domain.quantities import Unit
from pems.domain.tiers import BillingCycle, TierTable
from pems.domain.tou import Rate, TouPlan

#: A version's problem: a tariff file's reader shows the inner problem at the version's path.
IN_VERSION = gettext_noop("version '%(version)s': %(problem)s")


def _version_error(version: str, template: str, /, **params: Param) -> TariffError:
    """A problem of one version: the message wraps the problem, each part translatable."""
    problem = Message.of(template, **params)
    return TariffError(Message.of(IN_VERSION, version=version, problem=problem))


def _tariff_error(tariff: str, template: str, /, **params: Param) -> TariffError:
    """A problem of the whole tariff (its versions together)."""
    problem = Message.of(template, **params)
    wrapper = gettext_noop("tariff '%(tariff)s': %(problem)s")
    return TariffError(Message.of(wrapper, tariff=tariff, problem=problem))


class ChargePeriod(StrEnum):
    """What a fixed charge is quoted per."""

    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True)
class FixedCharge:
    """A standing charge (meter rental, management fee) per day or per month."""

    name: str
    amount: Money
    per: ChargePeriod


@dataclass(frozen=True)
class TariffVersion:
    """Prices in force from ``effective_from`` until the next version.

    ``prices`` maps each rate to a price per unit. Without ``tou`` all
    consumption is at :attr:`Rate.FLAT`.
    """

    id: str
    effective_from: datetime
    prices: Mapping[Rate, Decimal]
    tou: TouPlan | None = None
    tiers: TierTable | None = None
    fixed: tuple[FixedCharge, ...] = ()
    service_fee_ratio: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.effective_from.tzinfo is None:
            template = gettext_noop("effective_from must be an aware datetime")
            raise _version_error(self.id, template)
        needed = self.tou.rates if self.tou else frozenset({Rate.FLAT})
        missing = sorted(needed - set(self.prices))
        if missing:
            template = gettext_noop("no price for rate(s) %(rates)s")
            raise _version_error(self.id, template, rates=", ".join(missing))
        for rate, value in self.prices.items():
            if not isinstance(value, Decimal) or value < 0:
                template = gettext_noop("price of %(rate)s must be a Decimal >= 0")
                raise _version_error(self.id, template, rate=str(rate))
        if not Decimal(0) <= self.service_fee_ratio < 1:
            template = gettext_noop("service_fee_ratio must be in [0, 1)")
            raise _version_error(self.id, template)

    def rate_price(self, rate: Rate) -> Decimal:
        """Price per unit of ``rate``."""
        return self.prices[rate]


@dataclass(frozen=True)
class Tariff:
    """A named tariff for one site: unit, currency, time zone, calendar, versions."""

    name: str
    currency: str
    unit: Unit
    zone: ZoneInfo
    versions: tuple[TariffVersion, ...]
    calendar: DayCalendar = field(default_factory=DayCalendar)
    billing_cycle: BillingCycle = BillingCycle.MONTH
    _starts: tuple[datetime, ...] = field(init=False, repr=False, compare=False)
    _wall_times: frozenset[time] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.versions:
            template = gettext_noop("needs at least one version")
            raise _tariff_error(self.name, template)
        ids = [v.id for v in self.versions]
        if len(set(ids)) != len(ids):
            template = gettext_noop("version ids must be unique: %(ids)s")
            raise _tariff_error(self.name, template, ids=str(ids))
        starts = tuple(v.effective_from.astimezone(UTC) for v in self.versions)
        if any(a >= b for a, b in itertools.pairwise(starts)):
            template = gettext_noop("versions must be in increasing date order")
            raise _tariff_error(self.name, template)
        for version in self.versions:
            for charge in version.fixed:
                if charge.amount.currency != self.currency:
                    template = gettext_noop(
                        "fixed charge '%(charge)s' is in %(currency)s, the tariff in %(tariff)s"
                    )
                    raise _version_error(
                        version.id,
                        template,
                        charge=charge.name,
                        currency=charge.amount.currency,
                        tariff=self.currency,
                    )
        object.__setattr__(self, "_starts", starts)
        times = {time(0)}.union(*(v.tou.boundaries for v in self.versions if v.tou))
        object.__setattr__(self, "_wall_times", frozenset(times))

    def version_index_at(self, instant: datetime) -> int:
        """Index of the version in force at an aware instant."""
        index = bisect.bisect_right(self._starts, instant) - 1
        if index < 0:
            raise TariffNotInForceError(
                f"tariff {self.name!r} has no version in force at {instant.isoformat()} "
                f"(first version from {self._starts[0].isoformat()})"
            )
        return index

    def version_at(self, instant: datetime) -> TariffVersion:
        """The version in force at an aware instant."""
        return self.versions[self.version_index_at(instant)]

    @property
    def wall_times(self) -> frozenset[time]:
        """Wall-clock times at which some version may change rate, day or cycle (00:00)."""
        return self._wall_times

    @property
    def effective_instants(self) -> tuple[datetime, ...]:
        """Instants at which versions take effect, in order."""
        return self._starts
