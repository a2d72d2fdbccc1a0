"""Driver for DL/T 645-2007 prepaid meters (model code ``DLT645-GENERIC``).

Reads are one 0x11 request per data identifier (slow buses: 2400 baud), so
:meth:`Dlt645Meter.read_state` reads only what the collector needs; the
instantaneous voltage/current/power blocks are added with ``with_instant``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from pems.devices.dlt645 import (
    REPLY_BIT,
    Control,
    Frame,
    Recharge,
    RelayAction,
    address_bytes,
    clear_credit_request,
    raise_for_error,
    read_request,
    recharge_request,
    relay_request,
    reply_payload,
    time_sync_request,
)
from pems.devices.dlt645_bus import Dlt645Bus
from pems.devices.dlt645_items import ITEMS, DataItem, decode_value, di_bytes, encode_value
from pems.devices.errors import (
    BadFrame,
    ExceptionResponse,
    PurchaseReason,
    PurchaseRejected,
    Unsupported,
)
from pems.devices.records import Energy, MeterState, PhaseValues, Prices

DLT645_MODEL = "DLT645-GENERIC"
ItemValue = Decimal | tuple[Decimal, ...] | date | time | int


@dataclass(frozen=True, slots=True)
class Dlt645Credentials:
    """Password (level byte + 3 bytes), operator code and command validity."""

    password: bytes = b"\x02\x00\x00\x00"
    operator: bytes = b"\x00\x00\x00\x00"
    validity: timedelta = timedelta(minutes=10)


class Dlt645Meter:
    """One DL/T 645 meter (12-digit address) on a shared :class:`Dlt645Bus`.

    ``close()`` sends *direct close* (0x1C) so supply returns without a
    button press; :meth:`sync_clock` is a broadcast that sets every meter
    on the bus.
    """

    model = DLT645_MODEL

    def __init__(
        self,
        bus: Dlt645Bus,
        address: str,
        tz: tzinfo,
        *,
        credentials: Dlt645Credentials | None = None,
        customer_number: int = 0,
        with_instant: bool = False,
    ) -> None:
        address_bytes(address)  # validates
        self.bus = bus
        self.address = address
        self.tz = tz
        self.credentials = credentials or Dlt645Credentials()
        self.customer_number = customer_number
        self.with_instant = with_instant

    def __repr__(self) -> str:
        return f"Dlt645Meter({self.address} @ {self.bus.endpoint})"

    async def _exchange(self, frame: Frame) -> Frame:
        reply = await self.bus.request(frame)
        if reply is None:
            raise TypeError("Dlt645Bus.request returned no reply although one was expected")
        raise_for_error(reply, endpoint=self.bus.endpoint)
        return reply

    def _context(self, exc: BadFrame) -> BadFrame:
        return BadFrame(exc.detail, endpoint=self.bus.endpoint, address=self.address)

    async def read_item(self, name: str) -> ItemValue:
        """Read one data item by its name in the identifier table."""
        item = ITEMS[name]
        reply = await self._exchange(read_request(self.address, item.di))
        try:
            return decode_value(item, reply_payload(reply, self.address, item.di))
        except BadFrame as exc:
            raise self._context(exc) from exc

    async def read_state(self) -> MeterState:
        """Energy block, money, overdraft, purchase count, status word 3 and clock."""
        energy = _decimals(await self.read_item("forward_active_block"))
        money = _decimal(await self.read_item("remaining_money"))
        overdraft = _decimal(await self.read_item("overdraft_money"))
        count = await self.read_purchase_count()
        status = await self.read_item("status3")
        day, clock = await self.read_item("date"), await self.read_item("time")
        phases: tuple[PhaseValues, ...] = ()
        power = None
        if self.with_instant:
            volts = _decimals(await self.read_item("voltage_block"))
            amps = _decimals(await self.read_item("current_block"))
            phases = tuple(PhaseValues(v, a, None) for v, a in zip(volts, amps, strict=False))
            power = _decimal(await self.read_item("active_power_total"))
        bits = ITEMS["status3"].bits
        if not isinstance(status, int):
            raise TypeError("status3 must be a 'word' item")
        remaining = money - overdraft
        tou = [*energy[1:5], None, None, None, None]
        return MeterState(
            model=self.model,
            type_code=None,
            energy_unit="kWh",
            energy=Energy(energy[0], *tou[:4]),
            remaining_credit=remaining,
            purchase_count=count,
            relay_closed=not status >> bits["relay_open"] & 1,
            forced=None,
            alarm1=None,
            alarm2=None,
            arrears=remaining <= 0,
            fault=None,
            phases=phases,
            total_active_power=power,
            power_factor=None,
            clock=_combine(day, clock, self.tz),
        )

    async def read_purchase_count(self) -> int:
        """03330201: the meter's purchase count."""
        return int(_decimal(await self.read_item("purchase_count")))

    async def _relay(self, action: RelayAction) -> None:
        deadline = datetime.now(self.tz) + self.credentials.validity
        frame = relay_request(
            self.address,
            action,
            password=self.credentials.password,
            operator=self.credentials.operator,
            valid_until=deadline,
        )
        reply = await self._exchange(frame)
        if reply.control != Control.RELAY | REPLY_BIT:
            raise BadFrame(
                f"reply control 0x{reply.control:02X} does not answer relay control",
                endpoint=self.bus.endpoint,
                address=self.address,
            )

    async def trip(self) -> None:
        """0x1C trip (0x1A)."""
        await self._relay(RelayAction.TRIP)

    async def close(self) -> None:
        """0x1C direct close (0x1C)."""
        await self._relay(RelayAction.DIRECT_CLOSE)

    async def keep_power(self, on: bool) -> None:
        """0x1C keep-power on (0x3A) / off (0x3B)."""
        await self._relay(RelayAction.KEEP_POWER_ON if on else RelayAction.KEEP_POWER_OFF)

    async def resume_prepaid(self) -> None:
        """Keep-power off, then allow close: the meter's own prepaid logic decides."""
        await self._relay(RelayAction.KEEP_POWER_OFF)
        await self._relay(RelayAction.ALLOW_CLOSE)

    async def push_credit(self, amount_minor: int, purchase_count: int, mac: bytes) -> None:
        """0x03 recharge 070102FF; a refusal reads the meter's purchase count back."""
        recharge = Recharge(amount_minor, purchase_count, mac, self.customer_number)
        frame = recharge_request(self.address, self.credentials.operator, recharge)
        try:
            await self._exchange(frame)
        except ExceptionResponse as refused:
            reason = next(iter(refused.reasons), PurchaseReason.OTHER.value)
            count = await self.read_purchase_count()
            raise PurchaseRejected(
                PurchaseReason(reason), count, endpoint=self.bus.endpoint, address=self.address
            ) from refused

    async def clear_credit(self) -> None:
        """Clear the meter's credit (0x1A "clear meter" by the identifier table; UNVERIFIED)."""
        creds = self.credentials
        try:
            frame = clear_credit_request(
                self.address, password=creds.password, operator=creds.operator
            )
        except ValueError as exc:
            raise Unsupported(str(exc), endpoint=self.bus.endpoint, address=self.address) from exc
        reply = await self._exchange(frame)
        if reply.control != frame.control | REPLY_BIT:
            raise BadFrame(
                f"reply control 0x{reply.control:02X} does not answer a credit clear",
                endpoint=self.bus.endpoint,
                address=self.address,
            )

    async def _write_item(self, item: DataItem, value: Decimal) -> None:
        creds = self.credentials
        data = di_bytes(item.di) + creds.password + creds.operator + encode_value(item, value)
        reply = await self._exchange(Frame(self.address, Control.WRITE, data))
        if reply.control != Control.WRITE | REPLY_BIT:
            raise BadFrame(
                f"reply control 0x{reply.control:02X} does not answer a write",
                endpoint=self.bus.endpoint,
                address=self.address,
            )

    async def set_prices(self, prices: Prices) -> None:
        """0x14 writes of rates 1–4 (first rate set)."""
        for n, value in enumerate((prices.sharp, prices.peak, prices.flat, prices.valley), 1):
            await self._write_item(ITEMS[f"price{n}"], value)

    async def set_alarm_thresholds(
        self, alarm1: Decimal, alarm2: Decimal, overdraft: Decimal | None = None
    ) -> None:
        """0x14 writes of 04001001/04001002 (and 04001003 overdraft limit)."""
        await self._write_item(ITEMS["alarm1_limit"], alarm1)
        await self._write_item(ITEMS["alarm2_limit"], alarm2)
        if overdraft is not None:
            await self._write_item(ITEMS["overdraft_limit"], overdraft)

    async def sync_clock(self, when: datetime) -> None:
        """0x08 broadcast time sync (sets every meter on this bus; no reply)."""
        if when.tzinfo is None:
            raise ValueError("sync_clock needs an aware datetime")
        await self.bus.request(time_sync_request(when.astimezone(self.tz)), expect_reply=False)


def _decimal(value: ItemValue) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a 'bcd' item value, got {value!r}")
    return value


def _decimals(value: ItemValue) -> tuple[Decimal, ...]:
    if not isinstance(value, tuple):
        raise TypeError(f"expected a 'block' item value, got {value!r}")
    return value


def _combine(day: ItemValue, clock: ItemValue, tz: tzinfo) -> datetime | None:
    if isinstance(day, date) and isinstance(clock, time):
        return datetime.combine(day, clock, tzinfo=tz)
    return None
