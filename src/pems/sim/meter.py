"""A simulated prepaid meter: its own metering, credit, alarms and relay logic.

State evolves lazily: nothing ticks. Every access first integrates
consumption from the last access up to the clock's now, hour by hour (the
load is constant within a local hour), finding the exact moment credit runs
out so the relay trips where a real meter would and consumption stops there.

Quantities are exact integers: consumption accumulates in 1/3.6e9 of a unit
(1 mJ for kWh) — rate in milli-units per hour × milliseconds. Credit is an
integer too, in 1/(10⁴ × 3.6e9) of the currency unit, so price (4 decimals) ×
consumption is exact and evaluating lazily in one step or in many gives the
same result to the last unit. Snapshots floor energy to 0.001 and credit to
0.01; each register floors further to its own scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from pems.devices.errors import PurchaseReason
from pems.sim.clock import MS_PER_HOUR, Clock
from pems.sim.profile import PROFILE, LoadProfile
from pems.siteplan import FeeControl, MeterPoint, ModelCode
from pems.siteplan.catalogue import model_info

#: Accumulator units per kWh (or m³): milli-units per hour × ms.
UNIT = 3_600_000_000
_REGISTER_STEP = UNIT // 1000
#: Credit units per currency unit: price has 4 decimals, consumption UNIT per unit.
CREDIT_SCALE = 10_000 * UNIT
_CENT_UNITS = CREDIT_SCALE // 100


class RelayMode(StrEnum):
    """Who decides the relay: the meter's prepaid logic, or a forced remote command."""

    PREPAID = "prepaid"
    FORCED_TRIP = "forced-trip"
    KEEP_POWER = "keep-power"


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    """Outcome of a purchase: ``reason`` is None when accepted; count and credit afterwards."""

    reason: PurchaseReason | None
    purchase_count: int
    credit: Decimal

    @property
    def accepted(self) -> bool:
        """True when the meter took the credit."""
        return self.reason is None


@dataclass(slots=True)
class Faults:
    """Faults injected into one meter (all off by default)."""

    dead: bool = False
    slow_ms: int = 0
    garbled: bool = False
    clock_drift_s: int = 0


@dataclass(frozen=True, slots=True)
class MeterSnapshot:
    """Everything a meter would report at one instant, as typed values.

    Energies are in kWh (m³ for water), floored to 0.001; money is in the site
    currency, floored to 0.01. ``last_purchase`` is "none", "accepted" or a
    :class:`PurchaseReason` value. ``power_w`` is total active
    power; ``voltage_dv`` / ``current_ca`` are per phase in 0.1 V / 0.01 A.
    """

    at_ms: int
    meter_number: str
    model: ModelCode
    energy_total: Decimal
    energy_tou: tuple[Decimal, Decimal, Decimal, Decimal]
    credit: Decimal
    purchase_count: int
    total_purchased: Decimal
    customer_number: int
    last_purchase: str
    trip_count: int
    fee_control_on: bool
    relay_mode: RelayMode
    relay_closed: bool
    credit_tripped: bool
    alarm1: bool
    alarm2: bool
    arrears: bool
    phases: int
    power_w: int
    voltage_dv: tuple[int, ...]
    current_ca: tuple[int, ...]
    clock_ms: int
    prices: tuple[Decimal, Decimal, Decimal, Decimal]
    alarm1_threshold: Decimal
    alarm2_threshold: Decimal
    overdraft_limit: Decimal
    hoarding_limit: Decimal | None


@dataclass(slots=True)
class _Registers:
    """The part of a meter that a replacement resets."""

    meter_number: str
    seed: int
    base: int
    tou: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    credit_units: int = 0
    purchase_count: int = 0
    total_purchased: Decimal = Decimal(0)
    trip_count: int = 0
    credit_tripped: bool = False
    customer_number: int = 0
    last_purchase: str = "none"


class SimMeter:
    """One simulated meter (or ADF300 circuit) on a bus.

    ``load`` multiplies the energy the meter uses (and so the credit it
    spends) without changing its clock or the power it reports: a demo's
    way to make alarms and trips come within minutes while meter clocks and
    TOU periods stay true (the power registers could not show ×60 anyway).
    """

    def __init__(
        self, point: MeterPoint, clock: Clock, profile: LoadProfile = PROFILE, load: int = 1
    ) -> None:
        if load < 1:
            raise ValueError("load must be a whole number ≥ 1")
        self.point = point
        self.load = load
        self.address = point.address
        self.model = point.model
        self.phases = _phases(point)
        self.faults = Faults()
        self._clock = clock
        self._profile = profile
        self._set_prices(point.prices.as_tuple())
        self.alarm1_threshold = point.alarm1
        self.alarm2_threshold = point.alarm2
        self.overdraft_limit = point.overdraft_limit
        self.hoarding_limit = point.hoarding_limit
        self.fee_control_on = point.fee_control is FeeControl.METER_SIDE
        self.relay_mode = RelayMode.PREPAID
        #: Last words written to the control block (they read back as written).
        self.control_words: tuple[int, ...] = ()
        #: ADF300 box variant shown in the high byte of ``variant`` (0/1/2 = 36/24/12).
        self.variant_code = 0
        self._t = clock.now_ms()
        self._r = self._fresh(point.meter_number)
        self._r.credit_units = to_units(point.initial_credit)
        self._update_latch()

    def _fresh(self, meter_number: str) -> _Registers:
        seed = int(meter_number)
        return _Registers(meter_number, seed, self._profile.base(self.model, seed))

    @property
    def meter_number(self) -> str:
        """The number of the meter now installed (changes on replacement)."""
        return self._r.meter_number

    def _set_prices(self, prices: tuple[Decimal, Decimal, Decimal, Decimal]) -> None:
        self.prices = prices
        self._price_units = _price_units(prices)

    # -- lazy evolution ----------------------------------------------------

    def _powered(self) -> bool:
        if self.relay_mode is RelayMode.PREPAID:
            return not (self.fee_control_on and self._r.credit_tripped)
        return self.relay_mode is RelayMode.KEEP_POWER

    def _advance(self) -> int:
        """Integrate consumption up to now; returns now (epoch ms)."""
        now, t, r = self._clock.now_ms(), self._t, self._r
        while t < now and self._powered():
            offset = self._profile.utc_offset_ms  # the load changes on local hours
            end = min(((t + offset) // MS_PER_HOUR + 1) * MS_PER_HOUR - offset, now)
            rate = self._profile.rate(r.base, r.seed, t) * self.load
            if rate:
                tariff = self._profile.tariff(t)
                amount = rate * (end - t)
                if self.fee_control_on:
                    amount = self._charge(tariff, rate, amount)
                r.tou[tariff] += amount
            t = end
        self._t = max(now, self._t)
        return now

    def _charge(self, tariff: int, rate: int, amount: int) -> int:
        """Take the cost of ``amount`` from credit; trips (and cuts ``amount``) at the limit."""
        r, price = self._r, self._price_units[tariff]
        cost = price * amount
        headroom = r.credit_units + to_units(self.overdraft_limit)
        if self.relay_mode is RelayMode.PREPAID and price > 0 and cost >= headroom:
            # The relay opens when credit reaches the limit: consumption stops there.
            amount = rate * max(0, headroom // (price * rate))
            r.credit_units -= price * amount
            self._trip_for_credit()
            return amount
        r.credit_units -= cost
        return amount

    def _trip_for_credit(self) -> None:
        if not self._r.credit_tripped:
            self._r.credit_tripped = True
            self._r.trip_count += 1

    def _update_latch(self) -> None:
        """After an event: trip if credit is at/below the limit, reclose if it recovered."""
        if self.fee_control_on and self._r.credit_units + to_units(self.overdraft_limit) <= 0:
            if self.relay_mode is RelayMode.PREPAID:
                self._trip_for_credit()
        else:
            self._r.credit_tripped = False

    # -- what the protocol faces call ---------------------------------------

    def snapshot(self) -> MeterSnapshot:
        """The meter's state now."""
        now = self._advance()
        r = self._r
        tou = tuple(_register(amount) for amount in r.tou)
        closed = self._powered()
        power = self._profile.rate(r.base, r.seed, now) if closed else 0
        voltage = tuple(
            2200 + (r.seed + now // MS_PER_HOUR + p) % 41 - 20 for p in range(self.phases)
        )
        current = tuple(power * 1_000_000 // self.phases // (v * 950) for v in voltage)
        fee = self.fee_control_on
        credit = to_money(r.credit_units)
        return MeterSnapshot(
            at_ms=now,
            meter_number=r.meter_number,
            model=self.model,
            energy_total=_register(sum(r.tou)),
            energy_tou=(tou[0], tou[1], tou[2], tou[3]),
            credit=credit,
            purchase_count=r.purchase_count,
            total_purchased=r.total_purchased,
            customer_number=r.customer_number,
            last_purchase=r.last_purchase,
            trip_count=r.trip_count,
            fee_control_on=fee,
            relay_mode=self.relay_mode,
            relay_closed=closed,
            credit_tripped=fee and r.credit_tripped,
            alarm1=fee and credit <= self.alarm1_threshold,
            alarm2=fee and credit <= self.alarm2_threshold,
            arrears=fee and credit <= 0,
            phases=self.phases,
            power_w=power,
            voltage_dv=voltage,
            current_ca=current,
            clock_ms=now + self.faults.clock_drift_s * 1000,
            prices=self.prices,
            alarm1_threshold=self.alarm1_threshold,
            alarm2_threshold=self.alarm2_threshold,
            overdraft_limit=self.overdraft_limit,
            hoarding_limit=self.hoarding_limit,
        )

    def control(self, force: bool, trip: bool) -> None:
        """The 0x0057 write: [1,1] forced trip, [1,0] keep-power, [0,x] resume prepaid."""
        self._advance()
        if not force:
            self.relay_mode = RelayMode.PREPAID
        else:
            self.relay_mode = RelayMode.FORCED_TRIP if trip else RelayMode.KEEP_POWER
        self._update_latch()

    def purchase(
        self, amount: Decimal, count: int, *, mac_valid: bool, customer_number: int = 0
    ) -> PurchaseResult:
        """Add ``amount`` as purchase ``count``, checked as a meter does.

        Refused with a reason: bad MAC; fee control off; count not above the
        stored one (duplicate / replay) or more than one above it (skipped);
        a customer number other than the one the first purchase opened; or a
        balance above the hoarding cap. A negative balance is simply paid off.
        """
        self._advance()
        r = self._r
        reason: PurchaseReason | None = None
        if not mac_valid:
            reason = PurchaseReason.MAC_FAILED
        elif not self.fee_control_on:
            reason = PurchaseReason.FEE_CONTROL_OFF
        elif count <= r.purchase_count:
            reason = PurchaseReason.DUPLICATE
        elif count > r.purchase_count + 1:
            reason = PurchaseReason.COUNT_ERROR
        elif count > 1 and customer_number != r.customer_number:
            reason = PurchaseReason.CUSTOMER_MISMATCH
        elif self.hoarding_limit is not None and (
            to_money(r.credit_units) + amount > self.hoarding_limit
        ):
            reason = PurchaseReason.HOARDING_EXCEEDED
        else:
            r.credit_units += to_units(amount)
            r.purchase_count = count
            r.total_purchased += amount
            r.customer_number = customer_number
            self._update_latch()
        r.last_purchase = "accepted" if reason is None else reason.value
        return PurchaseResult(reason, r.purchase_count, to_money(r.credit_units))

    def configure(
        self,
        *,
        prices: tuple[Decimal, Decimal, Decimal, Decimal] | None = None,
        alarm1: Decimal | None = None,
        alarm2: Decimal | None = None,
        overdraft_limit: Decimal | None = None,
        fee_control_on: bool | None = None,
        hoarding_limit: Decimal | None = None,
    ) -> None:
        """Change fee-control settings (from a configuration write), from now on."""
        self._advance()
        if prices is not None:
            self._set_prices(prices)
        self.alarm1_threshold = alarm1 if alarm1 is not None else self.alarm1_threshold
        self.alarm2_threshold = alarm2 if alarm2 is not None else self.alarm2_threshold
        if overdraft_limit is not None:
            self.overdraft_limit = overdraft_limit
        if fee_control_on is not None:
            self.fee_control_on = fee_control_on
        if hoarding_limit is not None:  # 0 means "no cap", as in the register
            self.hoarding_limit = hoarding_limit or None
        self._update_latch()

    def set_clock(self, clock_ms: int) -> None:
        """A clock-sync write: the meter's clock now reads ``clock_ms``."""
        self.faults.clock_drift_s = round((clock_ms - self._clock.now_ms()) / 1000)

    def clear_credit(self) -> None:
        """A recall: remaining credit (or overdraft) to zero; count and energy stay."""
        self._advance()
        self._r.credit_units = 0
        self._update_latch()

    def set_credit(self, credit: Decimal) -> None:
        """Test/operator hook: set remaining credit directly (as a service tool would)."""
        self._advance()
        self._r.credit_units = to_units(credit)
        self._update_latch()

    def replace(self, meter_number: str) -> None:
        """Swap in a new meter: new number, zero energy, count and credit; same settings."""
        self._advance()
        self._r = self._fresh(meter_number)
        self.relay_mode = RelayMode.PREPAID
        self.control_words = ()
        self.faults = Faults()
        self._update_latch()

    # -- persistence (``pems simulate --state``) ------------------------------

    def saved(self) -> dict[str, Any]:
        """Everything a restart would otherwise lose, as JSON-ready values."""
        self._advance()
        r = self._r
        return {
            "meter_number": r.meter_number,
            "tou": list(r.tou),
            "credit_units": r.credit_units,
            "purchase_count": r.purchase_count,
            "total_purchased": str(r.total_purchased),
            "trip_count": r.trip_count,
            "credit_tripped": r.credit_tripped,
            "customer_number": r.customer_number,
            "last_purchase": r.last_purchase,
            "relay_mode": self.relay_mode.value,
            "control_words": list(self.control_words),
            "prices": [str(p) for p in self.prices],
            "alarm1": str(self.alarm1_threshold),
            "alarm2": str(self.alarm2_threshold),
            "overdraft_limit": str(self.overdraft_limit),
            "hoarding_limit": None if self.hoarding_limit is None else str(self.hoarding_limit),
            "fee_control_on": self.fee_control_on,
        }

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Take back what :meth:`saved` gave; the meter carries on from now.

        The time the simulator was stopped is not simulated: a restarted
        field resumes where it stopped, as the demo's data does.
        """
        self._advance()
        r = self._fresh(str(saved["meter_number"]))
        r.tou = [int(v) for v in saved["tou"]]
        r.credit_units = int(saved["credit_units"])
        r.purchase_count = int(saved["purchase_count"])
        r.total_purchased = Decimal(str(saved["total_purchased"]))
        r.trip_count = int(saved["trip_count"])
        r.credit_tripped = bool(saved["credit_tripped"])
        r.customer_number = int(saved["customer_number"])
        r.last_purchase = str(saved["last_purchase"])
        self._r = r
        self.relay_mode = RelayMode(saved["relay_mode"])
        self.control_words = tuple(int(w) for w in saved["control_words"])
        prices = [Decimal(str(p)) for p in saved["prices"]]
        self._set_prices((prices[0], prices[1], prices[2], prices[3]))
        self.alarm1_threshold = Decimal(str(saved["alarm1"]))
        self.alarm2_threshold = Decimal(str(saved["alarm2"]))
        self.overdraft_limit = Decimal(str(saved["overdraft_limit"]))
        hoarding = saved["hoarding_limit"]
        self.hoarding_limit = None if hoarding is None else Decimal(str(hoarding))
        self.fee_control_on = bool(saved["fee_control_on"])


@cache
def _price_units(prices: tuple[Decimal, ...]) -> tuple[int, ...]:
    """Prices in 10⁻⁴ currency units (shared: most meters of a site have the same prices)."""
    return tuple(int(p.scaleb(4).to_integral_value(ROUND_FLOOR)) for p in prices)


def to_units(money: Decimal) -> int:
    """Money → exact credit units (anything below 10⁻⁴ × UNIT⁻¹ is floored)."""
    return int((money * CREDIT_SCALE).to_integral_value(ROUND_FLOOR))


def to_money(units: int) -> Decimal:
    """Credit units → money floored to 0.01, as the meter shows it."""
    return Decimal(units // _CENT_UNITS).scaleb(-2)


def _register(amount: int) -> Decimal:
    """Accumulator → value in units, floored to 0.001 (registers floor further)."""
    return Decimal(amount // _REGISTER_STEP).scaleb(-3)


def _phases(point: MeterPoint) -> int:
    if point.circuit is not None:
        return point.circuit.phases
    return model_info(point.model).phases or 1
