"""Modbus-TCP and DL/T 645 endpoints: framing, silence, faults, broadcast time sync."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from pems.devices.dlt645 import Frame, encode_frame, read_request, split_frame, time_sync_request
from pems.devices.dlt645_items import di_bytes
from pems.devices.errors import BadFrame
from pems.devices.security import MasterKey
from pems.sim.clock import ManualClock
from pems.sim.site import SimSite, run_site
from pems.siteplan import mixed

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
async def mixed_site(master_key: MasterKey, clock: ManualClock) -> AsyncIterator[SimSite]:
    async with run_site(mixed(), master_key=master_key, clock=clock, bus_delay=False) as site:
        yield site


async def exchange(site: SimSite, gateway: str, request: bytes, size: int | None) -> bytes | None:
    """Send raw bytes; read ``size`` bytes back (or up to one frame), None on silence."""
    endpoint = site.gateway(gateway)
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    writer.write(request)
    try:
        if size is not None:
            return await asyncio.wait_for(reader.readexactly(size), 0.3)
        buffer = b""
        while True:
            frame, used = split_frame(buffer)
            if frame is not None:
                return buffer[:used]
            buffer += await asyncio.wait_for(reader.read(256), 0.3)
    except TimeoutError:
        return None
    finally:
        writer.close()


def mbap_read(transaction: int, unit: int, start: int, count: int) -> bytes:
    pdu = bytes((3,)) + start.to_bytes(2, "big") + count.to_bytes(2, "big")
    return (
        transaction.to_bytes(2, "big")
        + b"\x00\x00"
        + (len(pdu) + 1).to_bytes(2, "big")
        + bytes((unit,))
        + pdu
    )


async def test_modbus_tcp_answers_with_the_transaction_and_unit(mixed_site: SimSite) -> None:
    reply = await exchange(mixed_site, "GW-B", mbap_read(0x1234, 13, 0x0200, 1), 11)
    assert reply is not None
    assert reply[:2] == b"\x12\x34"
    assert reply[6] == 13
    assert int.from_bytes(reply[9:11], "big") == 10  # ADF300 type code


async def test_modbus_tcp_silent_for_unknown_units_and_0x0b_for_garbled(
    mixed_site: SimSite,
) -> None:
    assert await exchange(mixed_site, "GW-B", mbap_read(1, 99, 0x0200, 1), 9) is None
    mixed_site.meter("GW-B", 2).faults.garbled = True
    reply = await exchange(mixed_site, "GW-B", mbap_read(2, 2, 0x0200, 1), 9)
    assert reply is not None
    assert reply[7:9] == bytes((0x83, 0x0B))


async def test_dlt645_garbled_reply_fails_its_checksum(mixed_site: SimSite) -> None:
    request = encode_frame(read_request("123456781011", "00010000"))
    good = await exchange(mixed_site, "GW-D", request, None)
    assert good is not None
    assert split_frame(good)[0] is not None
    mixed_site.meter("GW-D", 123456781011).faults.garbled = True
    bad = await exchange(mixed_site, "GW-D", request, len(good))
    assert bad is not None
    with pytest.raises(BadFrame, match="checksum"):
        split_frame(bad)


async def test_dlt645_unknown_item_answers_no_data(mixed_site: SimSite) -> None:
    request = encode_frame(Frame("123456781012", 0x11, di_bytes("12345678")))
    reply = await exchange(mixed_site, "GW-D", request, None)
    assert reply is not None
    frame, _ = split_frame(reply)
    assert frame is not None
    assert (frame.control, frame.data) == (0xD1, b"\x02")


async def test_dlt645_broadcast_time_sync_sets_every_clock_without_reply(
    mixed_site: SimSite, clock: ManualClock
) -> None:
    for address in (123456781011, 123456781012):
        mixed_site.meter("GW-D", address).faults.clock_drift_s = 500
    sync = encode_frame(time_sync_request(clock.now().astimezone(SHANGHAI)))
    assert await exchange(mixed_site, "GW-D", sync, None) is None
    assert all(m.faults.clock_drift_s == 0 for m in mixed_site.gateway("GW-D").meters.values())


async def test_dlt645_partial_frame_is_dropped_after_silence(mixed_site: SimSite) -> None:
    endpoint = mixed_site.gateway("GW-D")
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    request = encode_frame(read_request("123456781011", "00010000"))
    writer.write(request[:9])
    await asyncio.sleep(0.4)
    writer.write(request)
    buffer = b""
    while (frame := split_frame(buffer)[0]) is None:
        buffer += await asyncio.wait_for(reader.read(256), 1)
    writer.close()
    assert frame.control == 0x91
