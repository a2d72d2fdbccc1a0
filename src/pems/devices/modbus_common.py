"""Shared plumbing of Modbus meter drivers: block reads, field writes, commands, clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import TypeVar

from pems.devices.bus import ModbusBus
from pems.devices.errors import BadFrame, EncodeError, Unsupported
from pems.devices.records import Prices
from pems.devices.registers import Block, BlockValues, RegisterMap

T = TypeVar("T")

CLOCK_FIELDS = ("year", "month", "day", "weekday", "hour", "minute", "second")


def decode_clock(regmap: RegisterMap, values: BlockValues, tz: tzinfo) -> datetime | None:
    """The meter clock as an aware datetime, or ``None`` if the registers are not a date."""
    parts = {name: values.integer(f"clock_{name}") for name in CLOCK_FIELDS}
    try:
        return datetime(
            regmap.clock_year_base + parts["year"],
            parts["month"],
            parts["day"],
            parts["hour"],
            parts["minute"],
            parts["second"],
            tzinfo=tz,
        )
    except ValueError:
        return None


def encode_clock(regmap: RegisterMap, when: datetime, tz: tzinfo) -> dict[str, Decimal | int]:
    """Clock field values for an aware ``when``, in the meter's zone ``tz``."""
    if when.tzinfo is None:
        raise ValueError("sync_clock needs an aware datetime")
    local = when.astimezone(tz)
    return {
        "clock_year": local.year - regmap.clock_year_base,
        "clock_month": local.month,
        "clock_day": local.day,
        "clock_weekday": local.isoweekday() % 7,
        "clock_hour": local.hour,
        "clock_minute": local.minute,
        "clock_second": local.second,
    }


class ModbusMeterBase:
    """A meter at one Modbus address on a shared :class:`ModbusBus`."""

    def __init__(self, bus: ModbusBus, address: int, regmap: RegisterMap, tz: tzinfo) -> None:
        if not 1 <= address <= 247:
            raise ValueError(f"Modbus address must be 1..247, got {address}")
        self.bus = bus
        self.address = address
        self.regmap = regmap
        self.model = regmap.model
        self.tz = tz

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model} @ {self.bus.endpoint} unit {self.address})"

    async def _read(self, block: Block) -> list[int]:
        return await self.bus.read(self.address, block.start, block.count)

    def _decode(self, decode: Callable[[list[int]], T], words: list[int]) -> T:
        """Run a decoder, adding the endpoint and address to any frame error."""
        try:
            return decode(words)
        except BadFrame as exc:
            raise BadFrame(exc.detail, endpoint=self.bus.endpoint, address=self.address) from exc

    async def _write_fields(self, block: Block, values: Mapping[str, Decimal | int]) -> None:
        start, words = block.encode_write(values)
        await self.bus.write(self.address, start, words)

    async def _command(self, name: str) -> None:
        control = self.regmap.block("control")
        await self.bus.write(self.address, control.start, list(self.regmap.command(name)))

    async def read_meter_number(self) -> str:
        """The 12-digit meter number (identity for keys and MACs)."""
        block = self.regmap.block("ident")
        values = self._decode(block.decode, await self._read(block))
        return f"{values.integer('meter_number'):012d}"

    async def trip(self) -> None:
        """Open the relay (water: close the valve)."""
        await self._command("trip")

    async def close(self) -> None:
        """Release a trip (water: open the valve)."""
        await self._command("close")

    async def sync_clock(self, when: datetime) -> None:
        """Write the clock registers in one FC16 (meter local time)."""
        try:
            values = encode_clock(self.regmap, when, self.tz)
            await self._write_fields(self.regmap.block("live"), values)
        except EncodeError as exc:
            raise ValueError(f"cannot set clock of {self!r}: {exc}") from exc

    def _unsupported(self, what: str) -> Unsupported:
        return Unsupported(
            f"{self.model} does not support {what}",
            endpoint=self.bus.endpoint,
            address=self.address,
        )

    async def keep_power(self, on: bool) -> None:
        """Not available unless the model overrides it."""
        raise self._unsupported("keep-power")

    async def resume_prepaid(self) -> None:
        """Not available unless the model overrides it."""
        raise self._unsupported("prepaid control")

    async def push_credit(self, amount_minor: int, purchase_count: int, mac: bytes) -> None:
        """Not available unless the model overrides it."""
        raise self._unsupported("credit push")

    async def read_purchase_count(self) -> int:
        """Not available unless the model overrides it."""
        raise self._unsupported("purchase count")

    async def clear_credit(self) -> None:
        """Not available unless the model overrides it."""
        raise self._unsupported("clearing its credit")

    async def set_prices(self, prices: Prices) -> None:
        """Not available unless the model overrides it."""
        raise self._unsupported("prices")

    async def set_alarm_thresholds(
        self, alarm1: Decimal, alarm2: Decimal, overdraft: Decimal | None = None
    ) -> None:
        """Not available unless the model overrides it."""
        raise self._unsupported("alarm thresholds")
