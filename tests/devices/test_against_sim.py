"""Drivers against the PEMS simulator: every model answers, and a dead meter stays contained.

(The simulator helper's tests/sim cover the simulator itself; these check the
drivers' side of the contract.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pems.devices.acrel import AcrelMeter
from pems.devices.bus import BusConfig, Framing, ModbusBus
from pems.devices.dlt645_bus import Dlt645Bus
from pems.devices.drivers import make_driver, open_bus
from pems.devices.errors import PurchaseReason, PurchaseRejected, ResponseTimeout
from pems.devices.records import MeterDriver
from pems.devices.security import MasterKey, purchase_mac
from pems.sim.clock import ManualClock
from pems.sim.site import SimSite, run_site
from pems.siteplan import mixed, plaza

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEY = MasterKey.parse("00112233445566778899AABBCCDDEEFF")
TIMEOUT = 0.3


def clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC))


@pytest.fixture
async def plaza_site() -> AsyncIterator[SimSite]:
    async with run_site(plaza(), master_key=KEY, clock=clock(), bus_delay=False) as site:
        yield site


@pytest.fixture
async def mixed_site() -> AsyncIterator[SimSite]:
    async with run_site(mixed(), master_key=KEY, clock=clock(), bus_delay=False) as site:
        yield site


def modbus_bus(site: SimSite, code: str, framing: Framing) -> ModbusBus:
    gateway = site.gateway(code)
    assert Framing(gateway.spec.protocol.value) is framing  # names shared with site plans
    bus = open_bus(BusConfig(gateway.host, gateway.port, framing, timeout=TIMEOUT))
    assert isinstance(bus, ModbusBus)
    return bus


async def test_dead_and_garbled_meters_do_not_disturb_their_bus(plaza_site: SimSite) -> None:
    plaza_site.meter("GW-S2", 5).faults.dead = True
    plaza_site.meter("GW-S2", 9).faults.garbled = True
    bus = modbus_bus(plaza_site, "GW-S2", Framing.RTU_OVER_TCP)
    drivers = {a: make_driver("DTSY1352-NK", bus, a, SHANGHAI) for a in (4, 5, 6, 9)}
    for _ in range(3):  # 6 unanswered requests in a row: pymodbus's default drops the link at 5
        for address in (5, 9):
            with pytest.raises(ResponseTimeout):  # pymodbus drops a bad-CRC reply unseen
                await drivers[address].read_state()
    for address in (4, 6):
        state = await drivers[address].read_state()
        assert state.purchase_count == plaza_site.meter("GW-S2", address).snapshot().purchase_count
    assert bus.connects == 1  # the link was never dropped and re-opened
    await bus.close()


async def test_every_model_reads_through_its_gateway(mixed_site: SimSite) -> None:
    modbus_a = modbus_bus(mixed_site, "GW-A", Framing.RTU_OVER_TCP)
    modbus_b = modbus_bus(mixed_site, "GW-B", Framing.MODBUS_TCP)
    gw_d = mixed_site.gateway("GW-D")
    dlt = Dlt645Bus(BusConfig(gw_d.host, gw_d.port, Framing.DLT645, timeout=TIMEOUT))
    cases: list[tuple[str, MeterDriver, str, int | str, int]] = [
        ("GW-A", make_driver("DDSY1352-NK", modbus_a, 1, SHANGHAI), "kWh", 1, 1),
        ("GW-A", make_driver("WATER-VALVE", modbus_a, 21, SHANGHAI), "m3", 21, 0),
        ("GW-B", make_driver("ADF300", modbus_b, 1, SHANGHAI), "kWh", 1, 1),
        ("GW-B", make_driver("ADF300", modbus_b, 13, SHANGHAI), "kWh", 13, 3),
        ("GW-D", make_driver("DLT645-GENERIC", dlt, "123456781011", SHANGHAI), "kWh",
         123456781011, 0),
    ]  # fmt: skip
    for gateway, driver, unit, address, phases in cases:
        state = await driver.read_state()
        snapshot = mixed_site.meter(gateway, int(address)).snapshot()
        assert state.energy_unit == unit
        assert len(state.phases) == phases
        assert state.relay_closed == snapshot.relay_closed
        if unit == "kWh":
            assert state.remaining_credit == snapshot.credit
            assert state.purchase_count == snapshot.purchase_count
    for bus in (modbus_a, modbus_b, dlt):
        await bus.close()


async def test_dlt645_recharge_and_replay(mixed_site: SimSite) -> None:
    gateway = mixed_site.gateway("GW-D")
    bus = Dlt645Bus(BusConfig(gateway.host, gateway.port, Framing.DLT645, timeout=TIMEOUT))
    driver = make_driver("DLT645-GENERIC", bus, "123456781012", SHANGHAI)
    before = await driver.read_state()
    assert before.purchase_count is not None
    count = before.purchase_count + 1
    mac = purchase_mac(KEY.meter_key("123456781012", 1), 0, count, 5000)
    await driver.push_credit(5000, count, mac)
    after = await driver.read_state()
    assert after.purchase_count == count
    assert before.remaining_credit is not None
    assert after.remaining_credit == before.remaining_credit + Decimal("50.00")
    with pytest.raises(PurchaseRejected) as caught:
        await driver.push_credit(5000, count, mac)
    assert caught.value.meter_count == count
    assert caught.value.reason in (PurchaseReason.DUPLICATE, PurchaseReason.COUNT_ERROR)
    await bus.close()


async def test_acrel_credit_push_with_a_real_mac_and_its_replay(plaza_site: SimSite) -> None:
    bus = modbus_bus(plaza_site, "GW-S3", Framing.RTU_OVER_TCP)
    meter = make_driver("DTSY1352-NK", bus, 12, SHANGHAI)
    assert isinstance(meter, AcrelMeter)
    number = await meter.read_meter_number()
    count = await meter.read_purchase_count() + 1
    mac = purchase_mac(KEY.meter_key(number, 1), 0, count, 12_345)
    before = await meter.read_state()
    await meter.push_credit(12_345, count, mac)
    after = await meter.read_state()
    assert after.purchase_count == count
    assert before.remaining_credit is not None
    assert after.remaining_credit == before.remaining_credit + Decimal("123.45")
    with pytest.raises(PurchaseRejected) as caught:
        await meter.push_credit(12_345, count, mac)
    assert (caught.value.reason, caught.value.meter_count) == (PurchaseReason.DUPLICATE, count)
    forged = purchase_mac(KEY.meter_key(number, 1), 0, count + 1, 99_999)
    with pytest.raises(PurchaseRejected) as caught:
        await meter.push_credit(12_345, count + 1, forged)
    assert caught.value.reason is PurchaseReason.MAC_FAILED
    await bus.close()
