"""Acrel and water drivers over real loopback sockets against a minimal fake gateway."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pems.devices.acrel import AcrelMeter
from pems.devices.bus import BusConfig, Framing, ModbusBus
from pems.devices.drivers import make_driver
from pems.devices.errors import (
    DeviceError,
    ExceptionResponse,
    GatewayUnavailable,
    PurchaseReason,
    PurchaseRejected,
    ResponseTimeout,
    Unsupported,
)
from pems.devices.maps import get_map
from pems.devices.records import ForcedMode, MeterDriver, Prices
from pems.devices.water import WaterMeter

from .fakes import FakeModbusGateway
from .test_registers import dtsy_live_words

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMEOUT = 0.3
DTSY = get_map("DTSY1352-NK")


def acrel_bank(gateway: FakeModbusGateway, unit: int) -> None:
    """Give ``unit`` a DTSY register image: live, control, fee control, purchase status."""
    gateway.load(unit, 0x0200, dtsy_live_words())
    gateway.load(unit, 0x0057, [0, 0])
    gateway.load(unit, 0x0043, [0x0000, 0x0012, 0x3456])
    gateway.load(unit, 0x0400, [0] * 25)
    gateway.load(unit, 0x0445, [0, 7])


@pytest.fixture(params=[Framing.RTU_OVER_TCP, Framing.MODBUS_TCP], ids=["rtu", "tcp"])
async def gateway_bus(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[FakeModbusGateway, ModbusBus]]:
    framing: Framing = request.param
    gateway = FakeModbusGateway(rtu=framing is Framing.RTU_OVER_TCP)
    port = await gateway.start()
    bus = ModbusBus(BusConfig("127.0.0.1", port, framing, timeout=TIMEOUT))
    yield gateway, bus
    await bus.close()
    await gateway.stop()


async def test_read_state_is_one_transaction(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus],
) -> None:
    gateway, bus = gateway_bus
    acrel_bank(gateway, 5)
    meter = AcrelMeter(bus, 5, "DTSY1352-NK", SHANGHAI)
    state = await meter.read_state()
    assert gateway.requests == 1
    assert state.energy.total == Decimal("1234.56")
    assert state.remaining_credit == Decimal("-2.00")
    assert state.purchase_count == 7
    assert state.forced is None
    assert await meter.read_meter_number() == "000000123456"


async def test_read_state_with_control(gateway_bus: tuple[FakeModbusGateway, ModbusBus]) -> None:
    gateway, bus = gateway_bus
    acrel_bank(gateway, 5)
    meter = AcrelMeter(bus, 5, "DTSY1352-NK", SHANGHAI, with_control=True)
    await meter.keep_power(True)
    assert (await meter.read_state()).forced is ForcedMode.KEEP_POWER
    await meter.trip()
    assert await meter.read_control() is ForcedMode.FORCED_TRIP
    await meter.resume_prepaid()
    assert await meter.read_control() is ForcedMode.PREPAID
    assert [w[1:] for w in gateway.writes] == [(0x57, [1, 0]), (0x57, [1, 1]), (0x57, [0, 0])]


async def test_dead_meter_does_not_cut_off_the_others(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus],
) -> None:
    gateway, bus = gateway_bus
    acrel_bank(gateway, 5)
    acrel_bank(gateway, 9)
    gateway.dead.add(9)
    healthy = AcrelMeter(bus, 5, "DTSY1352-NK", SHANGHAI)
    dead = AcrelMeter(bus, 9, "DTSY1352-NK", SHANGHAI)
    await healthy.read_state()
    for _ in range(6):  # pymodbus would close the link after retries + 3 + 1 of these
        started = time.monotonic()
        with pytest.raises(ResponseTimeout) as caught:
            await dead.read_state()
        assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + 1.0
    assert f"gateway 127.0.0.1:{bus.config.port}" in str(caught.value)
    assert "meter 9" in str(caught.value)
    assert (await healthy.read_state()).purchase_count == 7
    assert gateway.connections == 1
    assert bus.connects == 1


async def test_one_request_in_flight(gateway_bus: tuple[FakeModbusGateway, ModbusBus]) -> None:
    gateway, bus = gateway_bus
    gateway.delay = 0.01
    for unit in range(1, 9):
        acrel_bank(gateway, unit)
    meters = [AcrelMeter(bus, unit, "DTSY1352-NK", SHANGHAI) for unit in range(1, 9)]
    states = await asyncio.gather(*(m.read_state() for m in meters * 2))
    assert len(states) == 16
    assert gateway.requests == 16
    assert not gateway.overlapped


async def test_exception_reply_is_typed(gateway_bus: tuple[FakeModbusGateway, ModbusBus]) -> None:
    gateway, bus = gateway_bus
    gateway.load(3, 0x0200, [0] * 10)  # live block incomplete: illegal data address
    with pytest.raises(ExceptionResponse, match="illegal data address") as caught:
        await AcrelMeter(bus, 3, "DDSY1352-NK", SHANGHAI).read_state()
    assert caught.value.code == 2
    assert not caught.value.retryable


def purchase_meter(gateway: FakeModbusGateway, unit: int, result: int, count: int) -> None:
    """Refuse purchase writes with exception 3 and the given status, like a meter would."""

    def on_write(u: int, start: int, words: list[int]) -> int | None:
        if start == 0x0440 and result != 1:
            gateway.load(u, 0x0445, [result, count])
            return 3
        return None

    gateway.on_write = on_write


@pytest.mark.parametrize(
    ("result", "reason"),
    [(2, PurchaseReason.DUPLICATE), (3, PurchaseReason.COUNT_ERROR),
     (4, PurchaseReason.MAC_FAILED), (5, PurchaseReason.HOARDING_EXCEEDED)],
)  # fmt: skip
async def test_refused_purchase_reports_reason_and_meter_count(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus], result: int, reason: PurchaseReason
) -> None:
    gateway, bus = gateway_bus
    acrel_bank(gateway, 4)
    purchase_meter(gateway, 4, result, 7)
    with pytest.raises(PurchaseRejected) as caught:
        await AcrelMeter(bus, 4, "DTSY1352-NK", SHANGHAI).push_credit(5000, 7, b"\x01\x02\x03\x04")
    assert (caught.value.reason, caught.value.meter_count) == (reason, 7)


async def test_accepted_purchase_writes_the_purchase_block(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus],
) -> None:
    gateway, bus = gateway_bus
    acrel_bank(gateway, 4)
    purchase_meter(gateway, 4, 1, 8)
    await AcrelMeter(bus, 4, "DTSY1352-NK", SHANGHAI).push_credit(
        100_000, 8, bytes.fromhex("DEADBEEF")
    )
    assert gateway.writes == [(4, 0x0440, [0x0001, 0x86A0, 8, 0xDEAD, 0xBEEF])]
    assert await AcrelMeter(bus, 4, "DTSY1352-NK", SHANGHAI).read_purchase_count() == 7


async def test_fee_settings_writes(gateway_bus: tuple[FakeModbusGateway, ModbusBus]) -> None:
    gateway, bus = gateway_bus
    acrel_bank(gateway, 6)
    meter = AcrelMeter(bus, 6, "DTSY1352-NK", SHANGHAI)
    await meter.set_prices(Prices(Decimal("1.2"), Decimal("0.9"), Decimal("0.6"), Decimal("0.3")))
    await meter.set_alarm_thresholds(Decimal("50"), Decimal("10"), overdraft=Decimal("5.5"))
    await meter.set_fee_control(True)
    assert gateway.writes == [
        (6, 0x0402, [0, 12000, 0, 9000, 0, 6000, 0, 3000]),
        (6, 0x040A, [0, 5000, 0, 1000, 0, 550]),
        (6, 0x0400, [1]),
    ]
    settings = await meter.read_fee_settings()
    assert settings.prices.sharp == Decimal("1.2")
    assert settings.overdraft_limit == Decimal("5.5")
    assert settings.fee_control_on


async def test_adf300_three_phase_circuit_uses_its_own_fee_block(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus],
) -> None:
    gateway, bus = gateway_bus
    words = dtsy_live_words()
    words[0], words[47] = 10, 0x0203
    gateway.load(40, 0x0200, words)
    circuit = AcrelMeter(bus, 40, "ADF300", SHANGHAI)
    await circuit.set_alarm_thresholds(Decimal("20"), Decimal("5"))
    assert gateway.writes[-1] == (40, 0x0536 + 10, [0, 2000, 0, 500])


async def test_sync_clock_writes_local_time(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus],
) -> None:
    gateway, bus = gateway_bus
    acrel_bank(gateway, 2)
    meter = AcrelMeter(bus, 2, "DTSY1352-NK", SHANGHAI)
    await meter.sync_clock(datetime(2026, 3, 1, 16, 30, 5, tzinfo=UTC))
    assert gateway.writes == [(2, 0x0228, [26, 3, 2, 1, 0, 30, 5])]  # 2026-03-02 00:30:05 Monday
    assert (await meter.read_state()).clock == datetime(2026, 3, 2, 0, 30, 5, tzinfo=SHANGHAI)
    with pytest.raises(ValueError, match="aware"):
        await meter.sync_clock(datetime(2026, 3, 1))


async def test_water_meter_valve_and_volume(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus],
) -> None:
    gateway, bus = gateway_bus
    gateway.load(7, 0x0200, [0x5701, 0, 12345, 0b1, 26, 5, 1, 5, 12, 0, 0, 360])
    gateway.load(7, 0x0300, [1])
    meter = make_driver("WATER-VALVE", bus, 7, SHANGHAI)
    assert isinstance(meter, WaterMeter)
    assert isinstance(meter, MeterDriver)
    assert await meter.read_volume() == Decimal("12.345")
    await meter.trip()
    await meter.open_valve()
    assert [w[1:] for w in gateway.writes] == [(0x0300, [2]), (0x0300, [1])]
    with pytest.raises(Unsupported, match="WATER-VALVE does not support credit push"):
        await meter.push_credit(1, 1, b"\x00" * 4)


async def test_unreachable_gateway_fails_fast_after_first_attempt() -> None:
    gateway = FakeModbusGateway()
    port = await gateway.start()
    await gateway.stop()  # nothing listens on this port now
    bus = ModbusBus(BusConfig("127.0.0.1", port, Framing.RTU_OVER_TCP, timeout=TIMEOUT,
                              reconnect_backoff=30))  # fmt: skip
    meter = AcrelMeter(bus, 1, "DTSY1352-NK", SHANGHAI)
    with pytest.raises(GatewayUnavailable, match="cannot connect"):
        await meter.read_state()
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable, match="waiting before reconnecting") as caught:
        await meter.read_state()
    assert time.monotonic() - started < 0.1
    assert caught.value.retryable
    await bus.close()


async def test_bus_reconnects_after_gateway_restart() -> None:
    gateway = FakeModbusGateway()
    port = await gateway.start()
    acrel_bank(gateway, 1)
    bus = ModbusBus(BusConfig("127.0.0.1", port, Framing.RTU_OVER_TCP, timeout=TIMEOUT,
                              reconnect_backoff=0))  # fmt: skip
    meter = AcrelMeter(bus, 1, "DTSY1352-NK", SHANGHAI)
    await meter.read_state()
    await bus.close()
    assert (await meter.read_state()).purchase_count == 7
    assert gateway.connections == 2
    assert bus.connects == 2
    await bus.close()
    await gateway.stop()


async def test_gateway_hanging_up_mid_request_is_retryable_and_recovers(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus],
) -> None:
    gateway, bus = gateway_bus
    acrel_bank(gateway, 1)
    acrel_bank(gateway, 2)
    gateway.hang_up_on.add(2)
    with pytest.raises((ResponseTimeout, GatewayUnavailable)) as caught:
        await AcrelMeter(bus, 2, "DTSY1352-NK", SHANGHAI).read_state()
    assert caught.value.retryable
    assert (await AcrelMeter(bus, 1, "DTSY1352-NK", SHANGHAI).read_state()).purchase_count == 7
    assert gateway.connections == 2
    assert bus.connects == 2


def malformed_replies() -> list[bytes]:
    """Well-framed (valid CRC / MBAP) replies whose PDUs are wrong in many ways."""
    rng = random.Random(645)
    fixed = [b"\x03\x02\x00\x01", b"\x10\x02\x00\x00\x30", b"\x03\x60" + bytes(10), b"\x83",
             b"\x04\x60" + bytes(96), b"\x03\x00"]  # fmt: skip
    return fixed + [bytes([3, rng.randrange(256)]) + rng.randbytes(rng.randrange(40))
                    for _ in range(8)]  # fmt: skip


async def test_malformed_replies_raise_only_device_errors(
    gateway_bus: tuple[FakeModbusGateway, ModbusBus],
) -> None:
    gateway, shared = gateway_bus
    acrel_bank(gateway, 1)
    # Replies pymodbus cannot frame end in a timeout: keep it short (loopback answers in ms).
    bus = ModbusBus(replace(shared.config, timeout=0.15))
    broken = AcrelMeter(bus, 50, "DTSY1352-NK", SHANGHAI)
    healthy = AcrelMeter(bus, 1, "DTSY1352-NK", SHANGHAI)
    for reply in malformed_replies():
        gateway.forced_replies[50] = reply
        with pytest.raises(DeviceError):
            await broken.read_state()
        assert (await healthy.read_state()).purchase_count == 7
    await bus.close()
