"""Typed records returned by drivers, and the one driver interface.

Energies are ``Decimal`` in ``energy_unit`` (kWh, or m³ for water); money is
``Decimal`` in major currency units (yuan) as the meter reports it.  ``None``
means "this meter does not report it", never "zero".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

MODEL_CODES = ("DTSY1352-NK", "DDSY1352-NK", "ADF300", "WATER-VALVE", "DLT645-GENERIC")
"""Every meter model code PEMS knows (catalogue, site plans, drivers)."""


class ForcedMode(enum.Enum):
    """Who decides the relay: the meter's prepaid logic, or a forced command."""

    PREPAID = "prepaid"
    FORCED_TRIP = "forced_trip"
    KEEP_POWER = "keep_power"


@dataclass(frozen=True, slots=True)
class Energy:
    """Accumulated energy (or volume): total and the four TOU registers."""

    total: Decimal
    sharp: Decimal | None = None
    peak: Decimal | None = None
    flat: Decimal | None = None
    valley: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PhaseValues:
    """Instantaneous values of one phase (``None`` where not reported)."""

    voltage: Decimal | None
    current: Decimal | None
    active_power: Decimal | None


@dataclass(frozen=True, slots=True)
class MeterState:
    """One consistent reading of a meter.

    ``relay_closed`` is True when supply is on (for water: valve open).
    ``phases`` holds one entry per phase the meter (circuit) has.
    """

    model: str
    type_code: int | None
    energy_unit: str
    energy: Energy
    remaining_credit: Decimal | None
    purchase_count: int | None
    relay_closed: bool | None
    forced: ForcedMode | None
    alarm1: bool | None
    alarm2: bool | None
    arrears: bool | None
    fault: bool | None
    phases: tuple[PhaseValues, ...]
    total_active_power: Decimal | None
    power_factor: Decimal | None
    clock: datetime | None


@dataclass(frozen=True, slots=True)
class Prices:
    """The four TOU rates, in currency per kWh (rate 1 = sharp … 4 = valley)."""

    sharp: Decimal
    peak: Decimal
    flat: Decimal
    valley: Decimal

    @classmethod
    def single(cls, price: Decimal) -> Prices:
        """One price for every rate (a meter without time-of-use)."""
        return cls(price, price, price, price)

    def as_tuple(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """Prices in register order: sharp, peak, flat, valley."""
        return (self.sharp, self.peak, self.flat, self.valley)


@runtime_checkable
class MeterDriver(Protocol):
    """What the collector can ask of any meter.

    Every method makes real bus transactions, raises only
    :class:`~pems.devices.errors.DeviceError` subclasses, and never retries
    on its own: retries are the collector's decision.
    """

    model: str

    async def read_state(self) -> MeterState:
        """Read the meter's state in as few transactions as the protocol allows."""

    async def trip(self) -> None:
        """Open the relay (water: close the valve)."""

    async def close(self) -> None:
        """Allow supply again (water: open the valve); the meter's own protection stays."""

    async def keep_power(self, on: bool) -> None:
        """Force supply on regardless of credit (保电), or release that force."""

    async def resume_prepaid(self) -> None:
        """Release any forced state; the meter's own prepaid logic decides."""

    async def push_credit(self, amount_minor: int, purchase_count: int, mac: bytes) -> None:
        """Add a purchase; raises PurchaseRejected with the meter's count when refused."""

    async def read_purchase_count(self) -> int:
        """The meter's purchase count (read it back after any unanswered credit push)."""

    async def clear_credit(self) -> None:
        """Set the meter's remaining credit to zero (a recall); ``Unsupported`` if it cannot.

        Trip the meter and read its credit first: the clear itself reports nothing.
        """

    async def set_prices(self, prices: Prices) -> None:
        """Write the four TOU rates."""

    async def set_alarm_thresholds(
        self, alarm1: Decimal, alarm2: Decimal, overdraft: Decimal | None = None
    ) -> None:
        """Write the alarm 1/2 credit thresholds (and the overdraft limit if given)."""

    async def sync_clock(self, when: datetime) -> None:
        """Set the meter clock to ``when`` (aware; converted to the meter's zone)."""
