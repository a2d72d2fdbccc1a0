"""Injected faults behave like the field: silence, bad CRCs, dropped connections, slow meters."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import pytest

from pems.devices.security import MasterKey
from pems.sim.clock import ManualClock
from pems.sim.site import SimSite, run_site
from pems.siteplan import plaza
from tests.sim.rtu import RawLink, crc_ok

GATEWAY = "GW-S2"


@pytest.fixture
async def plaza_site(master_key: MasterKey, clock: ManualClock) -> AsyncIterator[SimSite]:
    async with run_site(plaza(), master_key=master_key, clock=clock, bus_delay=False) as site:
        yield site


@pytest.fixture
async def link(plaza_site: SimSite) -> AsyncIterator[RawLink]:
    gateway = plaza_site.gateway(GATEWAY)
    raw = await RawLink.open(gateway.host, gateway.port)
    yield raw
    raw.close()


async def test_dead_meter_is_silent_while_neighbours_answer(
    plaza_site: SimSite, link: RawLink
) -> None:
    plaza_site.meter(GATEWAY, 5).faults.dead = True
    assert await link.read(5, 0x0200, 10) is None
    for neighbour in (4, 6):
        reply = await link.read(neighbour, 0x0200, 10)
        assert reply is not None
        assert reply[0] == neighbour
        assert crc_ok(reply)


async def test_unknown_address_gets_no_answer(link: RawLink) -> None:
    assert await link.read(200, 0x0200, 10) is None
    assert await link.read(1, 0x0200, 10) is not None


async def test_garbled_replies_fail_the_crc(plaza_site: SimSite, link: RawLink) -> None:
    plaza_site.meter(GATEWAY, 9).faults.garbled = True
    reply = await link.read(9, 0x0200, 10)
    assert reply is not None
    assert not crc_ok(reply)
    plaza_site.meter(GATEWAY, 9).faults.garbled = False
    reply = await link.read(9, 0x0200, 10)
    assert reply is not None
    assert crc_ok(reply)


async def test_connection_drop_cuts_clients_and_allows_reconnect(
    plaza_site: SimSite, link: RawLink
) -> None:
    gateway = plaza_site.gateway(GATEWAY)
    assert gateway.drop_connections() == 1
    assert await asyncio.wait_for(link.reader.read(), 1) == b""  # EOF
    again = await RawLink.open(gateway.host, gateway.port)
    assert await again.read(1, 0x0200, 10) is not None
    again.close()


async def test_gateway_down_refuses_connections_until_up(plaza_site: SimSite) -> None:
    gateway = plaza_site.gateway(GATEWAY)
    gateway.set_down(True)
    refused = await RawLink.open(gateway.host, gateway.port)
    assert await asyncio.wait_for(refused.reader.read(), 1) == b""
    gateway.set_down(False)
    link = await RawLink.open(gateway.host, gateway.port)
    assert await link.read(1, 0x0200, 10) is not None
    link.close()


async def test_slow_meter_adds_turnaround(plaza_site: SimSite, link: RawLink) -> None:
    plaza_site.meter(GATEWAY, 3).faults.slow_ms = 250
    started = time.perf_counter()
    assert await link.read(3, 0x0200, 10, timeout=2) is not None
    assert time.perf_counter() - started >= 0.25
    assert await link.read(3, 0x0200, 10, timeout=0.1) is None  # a short client timeout misses it


async def test_clock_drift_shows_in_the_clock_registers(plaza_site: SimSite, link: RawLink) -> None:
    plaza_site.meter(GATEWAY, 2).faults.clock_drift_s = 3600
    reply = await link.read(2, 0x0228, 7)
    assert reply is not None
    words = [int.from_bytes(reply[3 + 2 * i : 5 + 2 * i], "big") for i in range(7)]
    # Manual clock: 2026-03-02 00:00 Shanghai; an hour fast reads 01:00.
    assert words[:3] == [26, 3, 2]
    assert words[4:7] == [1, 0, 0]


async def test_replaced_meter_has_new_number_and_fresh_registers(
    plaza_site: SimSite, link: RawLink, clock: ManualClock
) -> None:
    clock.advance(dt.timedelta(hours=5))
    meter = plaza_site.meter(GATEWAY, 4)
    assert meter.snapshot().energy_total > 0
    meter.replace("555500000004")
    ident = await link.read(4, 0x0043, 3)
    assert ident is not None
    assert ident[3:9].hex() == "555500000004"
    live = await link.read(4, 0x0215, 2)
    assert live is not None
    assert live[3:7] == bytes(4)


async def test_bus_recovers_after_a_corrupt_request(link: RawLink) -> None:
    link.writer.write(b"\x05\x03\x02\x00\x00\x0a\x00\x00")  # bad CRC: ignored
    await link.writer.drain()
    await asyncio.sleep(0.05)
    assert await link.read(5, 0x0200, 10) is not None


async def test_a_truncated_request_is_dropped_after_silence(link: RawLink) -> None:
    link.writer.write(b"\x05\x03\x02")  # first bytes of a request, then nothing
    await link.writer.drain()
    await asyncio.sleep(0.4)
    assert await link.read(5, 0x0200, 10) is not None


async def test_unknown_function_code_is_ignored(link: RawLink) -> None:
    link.writer.write(b"\x05\x2b\x0e\x01\x00")  # FC 43 (device id): this bus does not speak it
    await link.writer.drain()
    await asyncio.sleep(0.05)
    assert await link.read(5, 0x0200, 10) is not None
