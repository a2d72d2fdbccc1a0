"""DL/T 645 driver over a loopback transparent gateway."""

from __future__ import annotations

import time as clock
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pems.devices.bus import BusConfig, Framing
from pems.devices.dlt645 import Control, Frame, RelayAction, encode_frame, parse_recharge
from pems.devices.dlt645_bus import Dlt645Bus
from pems.devices.dlt645_items import ITEMS, ITEMS_BY_DI, di_bytes, encode_value
from pems.devices.dlt645_meter import Dlt645Meter
from pems.devices.drivers import make_driver
from pems.devices.errors import (
    BadFrame,
    ExceptionResponse,
    GatewayUnavailable,
    PurchaseReason,
    PurchaseRejected,
    ResponseTimeout,
)
from pems.devices.records import Prices

from .fakes import FakeDlt645Gateway

SHANGHAI = ZoneInfo("Asia/Shanghai")
METER = "000000001234"


@dataclass
class TinyMeter:
    """Just enough of a DL/T 645 prepaid meter to answer the driver."""

    address: str = METER
    values: dict[str, object] = field(default_factory=dict)
    relay_open: bool = False
    purchase_count: int = 3
    silent: bool = False
    actions: list[int] = field(default_factory=list)
    written: dict[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values.update({
            "forward_active_block": (Decimal("1500.25"), Decimal("100.00"), Decimal("400.00"),
                                     Decimal("600.25"), Decimal("400.00")),
            "remaining_money": Decimal("88.50"),
            "overdraft_money": Decimal("0"),
            "date": date(2026, 11, 24),
            "time": time(9, 15, 0),
            "voltage_block": (Decimal("230.1"), Decimal("229.9"), Decimal("231.0")),
            "current_block": (Decimal("1.500"), Decimal("0.000"), Decimal("-0.250")),
            "active_power_total": Decimal("0.3450"),
        })  # fmt: skip

    def __call__(self, frame: Frame) -> Frame | None:
        if self.silent or frame.address not in (self.address, "999999999999"):
            return None
        if frame.function == Control.READ:
            item = ITEMS_BY_DI[frame.data[:4][::-1].hex().upper()]
            value = self.current(item.name)
            if value is None:
                return Frame(self.address, 0xD1, b"\x02")
            return Frame(self.address, 0x91, frame.data[:4] + encode_value(item, value))  # type: ignore[arg-type]
        if frame.function == Control.RELAY:
            self.actions.append(frame.data[8])
            self.relay_open = frame.data[8] == RelayAction.TRIP
            return Frame(self.address, 0x9C)
        if frame.function == Control.SECURITY:
            _, recharge = parse_recharge(frame)
            if recharge.purchase_count != self.purchase_count + 1:
                return Frame(self.address, 0xC3, (1 << 5).to_bytes(2, "little"))
            self.purchase_count += 1
            return Frame(self.address, 0x83, frame.data[:4])
        if frame.function == Control.WRITE:
            item = ITEMS_BY_DI[frame.data[:4][::-1].hex().upper()]
            self.written[item.name] = Decimal(int(frame.data[12:][::-1].hex())).scaleb(
                -item.decimals
            )
            return Frame(self.address, 0x94)
        self.actions.append(-frame.function)
        return None

    def current(self, name: str) -> object:
        if name == "purchase_count":
            return self.purchase_count
        if name == "status3":
            return int(self.relay_open) << 4
        return self.values.get(name)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus]]:
    meter = TinyMeter()
    gateway = FakeDlt645Gateway(meter, prefix=b"\xfe\xfe")
    port = await gateway.start()
    bus = Dlt645Bus(BusConfig("127.0.0.1", port, Framing.DLT645, timeout=0.3))
    yield meter, gateway, bus
    await bus.close()
    await gateway.stop()


async def test_read_state(rig: tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus]) -> None:
    _, gateway, bus = rig
    driver = make_driver("DLT645-GENERIC", bus, METER, SHANGHAI)
    state = await driver.read_state()
    assert state.energy.total == Decimal("1500.25")
    assert state.energy.valley == Decimal("400.00")
    assert state.remaining_credit == Decimal("88.50")
    assert state.purchase_count == 3
    assert state.relay_closed is True
    assert state.arrears is False
    assert state.clock == datetime(2026, 11, 24, 9, 15, tzinfo=SHANGHAI)
    assert state.phases == ()
    assert len(gateway.frames) == 7


async def test_read_state_with_instant_values(
    rig: tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus],
) -> None:
    meter, _, bus = rig
    meter.values["overdraft_money"] = Decimal("12.00")
    meter.values["remaining_money"] = Decimal("0")
    state = await Dlt645Meter(bus, METER, SHANGHAI, with_instant=True).read_state()
    assert state.remaining_credit == Decimal("-12.00")
    assert state.arrears is True
    assert [p.current for p in state.phases] == [Decimal("1.5"), Decimal("0"), Decimal("-0.25")]
    assert state.total_active_power == Decimal("0.345")


async def test_relay_commands(rig: tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus]) -> None:
    meter, _, bus = rig
    driver = Dlt645Meter(bus, METER, SHANGHAI)
    await driver.trip()
    assert (await driver.read_state()).relay_closed is False
    await driver.close()
    await driver.keep_power(True)
    await driver.resume_prepaid()
    assert meter.actions == [0x1A, 0x1C, 0x3A, 0x3B, 0x1B]


async def test_missing_item_is_a_typed_refusal(
    rig: tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus],
) -> None:
    meter, _, bus = rig
    del meter.values["date"]
    with pytest.raises(ExceptionResponse) as caught:
        await Dlt645Meter(bus, METER, SHANGHAI).read_item("date")
    assert caught.value.reasons == ("no_data",)
    assert f"meter {METER}" in str(caught.value)


async def test_purchase_accepted_then_replay_rejected(
    rig: tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus],
) -> None:
    meter, gateway, bus = rig
    driver = Dlt645Meter(bus, METER, SHANGHAI, customer_number=42)
    await driver.push_credit(5000, 4, b"\x01\x02\x03\x04")
    assert meter.purchase_count == 4
    assert parse_recharge(gateway.frames[-1])[1].customer_number == 42
    assert await driver.read_purchase_count() == 4
    with pytest.raises(PurchaseRejected) as caught:
        await driver.push_credit(5000, 4, b"\x01\x02\x03\x04")
    assert (caught.value.reason, caught.value.meter_count) == (PurchaseReason.COUNT_ERROR, 4)


async def test_set_prices_and_thresholds(
    rig: tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus],
) -> None:
    meter, _, bus = rig
    driver = Dlt645Meter(bus, METER, SHANGHAI)
    await driver.set_prices(
        Prices(Decimal("1.2345"), Decimal("1"), Decimal("0.5"), Decimal("0.25"))
    )
    await driver.set_alarm_thresholds(Decimal("30"), Decimal("10"), Decimal("5"))
    assert meter.written == {
        "price1": Decimal("1.2345"), "price2": Decimal("1"), "price3": Decimal("0.5"),
        "price4": Decimal("0.25"), "alarm1_limit": Decimal("30"), "alarm2_limit": Decimal("10"),
        "overdraft_limit": Decimal("5"),
    }  # fmt: skip


async def test_time_sync_is_a_broadcast_without_reply(
    rig: tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus],
) -> None:
    _, gateway, bus = rig
    driver = Dlt645Meter(bus, METER, SHANGHAI)
    await driver.sync_clock(datetime(2026, 11, 24, 1, 2, 3, tzinfo=UTC))
    await driver.read_item("purchase_count")  # the bus is free again at once
    sync = gateway.frames[0]
    assert (sync.address, sync.control) == ("999999999999", 0x08)
    assert sync.data == bytes.fromhex("030209241126")


async def test_silent_meter_times_out(rig: tuple[TinyMeter, FakeDlt645Gateway, Dlt645Bus]) -> None:
    meter, _, bus = rig
    meter.silent = True
    started = clock.monotonic()
    with pytest.raises(ResponseTimeout, match=f"meter {METER}"):
        await Dlt645Meter(bus, METER, SHANGHAI).read_item("remaining_money")
    assert 0.25 <= clock.monotonic() - started < 1.5
    meter.silent = False
    assert await Dlt645Meter(bus, METER, SHANGHAI).read_item("remaining_money") == Decimal("88.50")


def raw_gateway(raw: bytes) -> FakeDlt645Gateway:
    return FakeDlt645Gateway(lambda frame: raw)


def money_reply(address: str, amount: str) -> bytes:
    item = ITEMS["remaining_money"]
    return encode_frame(
        Frame(address, 0x91, di_bytes(item.di) + encode_value(item, Decimal(amount)))
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (money_reply("000000009999", "1.00") + money_reply(METER, "7.00"), Decimal("7.00")),
        (encode_frame(Frame(METER, 0x11, di_bytes("00900200"))) + money_reply(METER, "8.00"),
         Decimal("8.00")),
        (b"\x00\xff\x16" + money_reply(METER, "9.00"), Decimal("9.00")),
    ],
)  # fmt: skip
async def test_foreign_and_echoed_frames_are_skipped(raw: bytes, expected: Decimal) -> None:
    gateway = raw_gateway(raw)
    bus = Dlt645Bus(BusConfig("127.0.0.1", await gateway.start(), Framing.DLT645, timeout=0.3))
    assert await Dlt645Meter(bus, METER, SHANGHAI).read_item("remaining_money") == expected
    await bus.close()
    await gateway.stop()


async def test_corrupt_reply_is_a_bad_frame_naming_the_gateway() -> None:
    corrupt = bytearray(money_reply(METER, "7.00"))
    corrupt[-2] ^= 0xFF
    gateway = raw_gateway(bytes(corrupt))
    port = await gateway.start()
    bus = Dlt645Bus(BusConfig("127.0.0.1", port, Framing.DLT645, timeout=0.3))
    with pytest.raises(BadFrame, match=f"checksum.*gateway 127.0.0.1:{port}, meter {METER}"):
        await Dlt645Meter(bus, METER, SHANGHAI).read_item("remaining_money")
    await bus.close()
    await gateway.stop()


async def test_lost_gateway_is_retryable_and_unreachable_gateway_fails_fast() -> None:
    meter = TinyMeter()
    gateway = FakeDlt645Gateway(meter)
    port = await gateway.start()
    bus = Dlt645Bus(BusConfig("127.0.0.1", port, Framing.DLT645, timeout=0.3, reconnect_backoff=30))
    driver = Dlt645Meter(bus, METER, SHANGHAI)
    assert await driver.read_item("purchase_count") == Decimal(3)
    await gateway.stop()
    with pytest.raises((GatewayUnavailable, ResponseTimeout)) as lost:
        await driver.read_item("purchase_count")
    assert lost.value.retryable
    with pytest.raises(GatewayUnavailable):  # "cannot connect", unless the first call said so
        await driver.read_item("purchase_count")
    started = clock.monotonic()
    with pytest.raises(GatewayUnavailable, match="waiting before reconnecting"):
        await driver.read_item("purchase_count")
    assert clock.monotonic() - started < 0.1
    await bus.close()
