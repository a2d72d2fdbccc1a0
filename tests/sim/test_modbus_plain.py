"""A plain pymodbus client (RTU framer over TCP, no PEMS code) against the simulated plaza."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient

from pems.devices.security import MasterKey
from pems.sim.clock import ManualClock
from pems.sim.site import SimSite, run_site
from pems.siteplan import plaza

RELAY_BITS = 0b111 << 13
FEE_CONTROL_BIT = 1 << 3


@pytest.fixture
async def plaza_site(master_key: MasterKey, clock: ManualClock) -> AsyncIterator[SimSite]:
    async with run_site(plaza(), master_key=master_key, clock=clock, bus_delay=False) as site:
        yield site


@pytest.fixture
async def client(plaza_site: SimSite) -> AsyncIterator[AsyncModbusTcpClient]:
    endpoint = plaza_site.endpoints[0]
    modbus = AsyncModbusTcpClient(
        endpoint.host, port=endpoint.port, framer=FramerType.RTU, timeout=1, retries=0
    )
    assert await modbus.connect()
    yield modbus
    modbus.close()


def u32(words: list[int], offset: int) -> int:
    return words[offset] << 16 | words[offset + 1]


async def read_live(client: AsyncModbusTcpClient, unit: int) -> list[int]:
    reply = await client.read_holding_registers(0x0200, count=48, device_id=unit)
    assert not reply.isError()
    return list(reply.registers)


async def test_live_block_has_the_documented_layout(
    plaza_site: SimSite, client: AsyncModbusTcpClient, clock: ManualClock
) -> None:
    clock.advance(dt.timedelta(hours=30))
    words = await read_live(client, 5)
    state = plaza_site.meter("GW-S1", 5).snapshot()
    assert words[0x00] == 5  # DTSY1352 type code
    assert 2000 <= words[0x01] <= 2400  # Ua in 0.1 V
    assert u32(words, 0x15) == int(state.energy_total * 100) > 0  # 0.01 kWh
    assert sum(u32(words, 0x17 + 2 * i) for i in range(4)) in range(
        u32(words, 0x15) - 3, u32(words, 0x15) + 1
    )
    assert Decimal(u32(words, 0x1F)).scaleb(-2) == state.credit
    assert words[0x21] == state.purchase_count == 0
    assert words[0x24] & RELAY_BITS == RELAY_BITS  # all three phases closed
    assert words[0x24] & FEE_CONTROL_BIT


async def test_forced_trip_and_close_at_0x0057(client: AsyncModbusTcpClient) -> None:
    assert not (await client.write_registers(0x0057, [1, 1], device_id=7)).isError()
    assert (await read_live(client, 7))[0x24] & RELAY_BITS == 0
    assert (await read_live(client, 8))[0x24] & RELAY_BITS == RELAY_BITS  # neighbour untouched
    control = await client.read_holding_registers(0x0057, count=2, device_id=7)
    assert list(control.registers) == [1, 1]
    assert not (await client.write_registers(0x0057, [1, 0], device_id=7)).isError()
    assert (await read_live(client, 7))[0x24] & RELAY_BITS == RELAY_BITS


async def test_meter_number_is_bcd_in_the_ident_block(client: AsyncModbusTcpClient) -> None:
    reply = await client.read_holding_registers(0x0043, count=3, device_id=3)
    assert "".join(f"{w:04X}" for w in reply.registers) == "240100001003"


async def test_illegal_address_and_value_answer_exceptions(client: AsyncModbusTcpClient) -> None:
    outside = await client.read_holding_registers(0x3000, count=2, device_id=1)
    assert outside.isError()
    assert outside.exception_code == 2
    read_only = await client.write_registers(0x0200, [9], device_id=1)
    assert read_only.isError()
    assert read_only.exception_code == 2
    bad_command = await client.write_registers(0x0057, [7, 7], device_id=1)
    assert bad_command.isError()
    assert bad_command.exception_code == 3
