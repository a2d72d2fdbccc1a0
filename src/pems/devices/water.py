"""Driver for the valve-controlled water meter (PEMS-defined map ``WATER-VALVE``).

Water is always server-side fee control: the meter measures volume and
opens or closes its valve on command.  ``trip`` closes the valve and
``close`` opens it, so the collector treats water like any other relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal

from pems.devices.bus import ModbusBus
from pems.devices.maps import get_map
from pems.devices.modbus_common import ModbusMeterBase, decode_clock
from pems.devices.records import Energy, MeterState
from pems.devices.registers import RegisterMap

WATER_MODEL = "WATER-VALVE"


@dataclass(frozen=True, slots=True)
class WaterStatus:
    """Water-specific flags not carried by :class:`MeterState`."""

    valve_open: bool
    valve_fault: bool
    battery_low: bool
    tamper: bool
    reverse_flow: bool
    battery_voltage: Decimal


def decode_water(regmap: RegisterMap, words: list[int], tz: tzinfo) -> MeterState:
    """Decode one read of the water meter's ``live`` block."""
    live = regmap.block("live").decode(words)
    return MeterState(
        model=regmap.model,
        type_code=live.integer("type_code"),
        energy_unit=regmap.energy_unit,
        energy=Energy(total=live.decimal("volume")),
        remaining_credit=None,
        purchase_count=None,
        relay_closed=live.flag("valve_open"),
        forced=None,
        alarm1=None,
        alarm2=None,
        arrears=None,
        fault=live.flag("valve_fault"),
        phases=(),
        total_active_power=None,
        power_factor=None,
        clock=decode_clock(regmap, live, tz),
    )


def decode_water_status(regmap: RegisterMap, words: list[int]) -> WaterStatus:
    """The water meter's own flags from the same ``live`` read."""
    live = regmap.block("live").decode(words)
    return WaterStatus(
        valve_open=live.flag("valve_open"),
        valve_fault=live.flag("valve_fault"),
        battery_low=live.flag("battery_low"),
        tamper=live.flag("tamper"),
        reverse_flow=live.flag("reverse_flow"),
        battery_voltage=live.decimal("battery_voltage"),
    )


class WaterMeter(ModbusMeterBase):
    """A valve-controlled water meter at a Modbus address on a shared bus."""

    def __init__(self, bus: ModbusBus, address: int, tz: tzinfo) -> None:
        super().__init__(bus, address, get_map(WATER_MODEL), tz)

    async def read_state(self) -> MeterState:
        """One read of the live block; volume is ``energy.total`` in m³."""
        words = await self._read(self.regmap.block("live"))
        return self._decode(lambda w: decode_water(self.regmap, w, self.tz), words)

    async def read_volume(self) -> Decimal:
        """Accumulated volume in m³."""
        return (await self.read_state()).energy.total

    async def read_status(self) -> WaterStatus:
        """Valve, battery and tamper flags."""
        words = await self._read(self.regmap.block("live"))
        return self._decode(lambda w: decode_water_status(self.regmap, w), words)

    async def open_valve(self) -> None:
        """Let water flow."""
        await self.close()

    async def close_valve(self) -> None:
        """Stop the water."""
        await self.trip()
