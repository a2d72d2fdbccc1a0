"""Simulated buses take the physical time of their frames (9600 and 2400 baud), one at a time."""

from __future__ import annotations

import asyncio
import time

from pems.devices.dlt645 import encode_frame, read_request
from pems.devices.security import MasterKey
from pems.sim.site import run_site
from pems.siteplan import mixed, plaza
from tests.sim.rtu import RawLink

BAUD = 9600
TURNAROUND = 0.020
READS = 12
REGISTERS = 48


def floor_seconds(reads: int, registers: int) -> float:
    """(request + response bytes) × 11 bits / baud + 2 × t3.5 + turnaround, per read."""
    char = 11 / BAUD
    request, response = 8, 5 + 2 * registers
    return reads * ((request + response) * char + 2 * 3.5 * char + TURNAROUND)


async def test_sequential_reads_take_the_computed_bus_floor(master_key: MasterKey) -> None:
    async with run_site(plaza(), master_key=master_key, turnaround=TURNAROUND) as site:
        endpoint = site.endpoints[0]
        link = await RawLink.open(endpoint.host, endpoint.port)
        assert await link.read(1, 0x0200, REGISTERS, timeout=2)  # connection warmed up
        started = time.perf_counter()
        for n in range(READS):
            assert await link.read(1 + n % 27, 0x0200, REGISTERS, timeout=2)
        elapsed = time.perf_counter() - started
        link.close()
    expected = floor_seconds(READS, REGISTERS)  # ≈ 1.83 s
    assert 0.9 * expected <= elapsed <= 1.1 * expected, (elapsed, expected)


async def test_two_clients_on_one_bus_are_served_one_at_a_time(master_key: MasterKey) -> None:
    async with run_site(plaza(), master_key=master_key, turnaround=TURNAROUND) as site:
        endpoint = site.endpoints[0]
        links = [await RawLink.open(endpoint.host, endpoint.port) for _ in range(2)]

        async def sweep(link: RawLink, first: int) -> None:
            for n in range(READS // 2):
                assert await link.read(first + n, 0x0200, REGISTERS, timeout=3)

        started = time.perf_counter()
        await asyncio.gather(sweep(links[0], 1), sweep(links[1], 10))
        elapsed = time.perf_counter() - started
        for link in links:
            link.close()
    # Both clients' reads share one bus: the total is the serial sum, not half of it.
    assert elapsed >= 0.9 * floor_seconds(READS, REGISTERS)


async def test_buses_run_in_parallel(master_key: MasterKey) -> None:
    async with run_site(plaza(), master_key=master_key, turnaround=TURNAROUND) as site:
        links = [await RawLink.open(e.host, e.port) for e in site.endpoints[:3]]

        async def sweep(link: RawLink) -> None:
            for n in range(READS // 2):
                assert await link.read(1 + n, 0x0200, REGISTERS, timeout=3)

        started = time.perf_counter()
        await asyncio.gather(*(sweep(link) for link in links))
        elapsed = time.perf_counter() - started
        for link in links:
            link.close()
    assert elapsed <= 1.1 * floor_seconds(READS // 2, REGISTERS)


async def timed_exchanges(
    host: str, port: int, request: bytes, reply_size: int, count: int
) -> float:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)  # warm-up
    await asyncio.wait_for(reader.readexactly(reply_size), 3)
    started = time.perf_counter()
    for _ in range(count):
        writer.write(request)
        await asyncio.wait_for(reader.readexactly(reply_size), 3)
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed


async def test_modbus_tcp_gateway_times_the_serial_side(master_key: MasterKey) -> None:
    async with run_site(mixed(), master_key=master_key, turnaround=TURNAROUND) as site:
        gateway = site.gateway("GW-B")  # Modbus-TCP in front of a 9600-baud bus
        pdu = bytes((3, 2, 0, 0, 20))
        request = b"\x00\x01\x00\x00\x00\x06\x01" + pdu
        elapsed = await timed_exchanges(gateway.host, gateway.port, request, 7 + 2 + 40, 6)
    char = 11 / 9600
    # On the serial side: RTU request 8 bytes, RTU reply 5 + 40 bytes.
    expected = 6 * ((8 + 45) * char + 2 * 3.5 * char + TURNAROUND)
    assert 0.9 * expected <= elapsed <= 1.1 * expected, (elapsed, expected)


async def test_dlt645_bus_at_2400_baud(master_key: MasterKey) -> None:
    async with run_site(mixed(), master_key=master_key, turnaround=TURNAROUND) as site:
        gateway = site.gateway("GW-D")
        request = encode_frame(read_request("123456781011", "00010000"))  # 4 FE + 16 bytes
        reply_size = 4 + 12 + 4 + 4  # FE×4, header, DI and 4-byte value
        elapsed = await timed_exchanges(gateway.host, gateway.port, request, reply_size, 4)
    char = 11 / 2400
    expected = 4 * ((len(request) + reply_size) * char + 2 * 3.5 * char + TURNAROUND)
    assert 0.9 * expected <= elapsed <= 1.1 * expected, (elapsed, expected)
