"""pems.devices drivers against the simulated mixed site (Modbus RTU, Modbus-TCP, DL/T 645)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pems.devices.acrel import AcrelMeter
from pems.devices.bus import BusConfig, Framing, ModbusBus
from pems.devices.dlt645_bus import Dlt645Bus
from pems.devices.dlt645_meter import Dlt645Meter
from pems.devices.errors import PurchaseReason, PurchaseRejected, ResponseTimeout
from pems.devices.records import ForcedMode, Prices
from pems.devices.security import MasterKey, purchase_mac
from pems.devices.water import WaterMeter
from pems.sim.clock import ManualClock
from pems.sim.site import SimSite, run_site
from pems.siteplan import mixed

TZ = ZoneInfo("Asia/Shanghai")
HOUR = dt.timedelta(hours=1)
FRAMING = {"GW-A": Framing.RTU_OVER_TCP, "GW-B": Framing.MODBUS_TCP, "GW-D": Framing.DLT645}
DLT_ADDRESS = "123456781011"


@pytest.fixture
async def mixed_site(master_key: MasterKey, clock: ManualClock) -> AsyncIterator[SimSite]:
    async with run_site(mixed(), master_key=master_key, clock=clock, bus_delay=False) as site:
        yield site


@pytest.fixture
async def buses(mixed_site: SimSite) -> AsyncIterator[dict[str, ModbusBus | Dlt645Bus]]:
    opened: dict[str, ModbusBus | Dlt645Bus] = {}
    for endpoint in mixed_site.endpoints:
        config = BusConfig(endpoint.host, endpoint.port, FRAMING[endpoint.gateway], timeout=0.3)
        opened[endpoint.gateway] = (
            Dlt645Bus(config) if config.framing is Framing.DLT645 else ModbusBus(config)
        )
    yield opened
    for bus in opened.values():
        await bus.close()


def modbus(buses: dict[str, ModbusBus | Dlt645Bus], code: str) -> ModbusBus:
    bus = buses[code]
    assert isinstance(bus, ModbusBus)
    return bus


def dlt(buses: dict[str, ModbusBus | Dlt645Bus]) -> Dlt645Bus:
    bus = buses["GW-D"]
    assert isinstance(bus, Dlt645Bus)
    return bus


def mac(
    master_key: MasterKey, meter_number: str, count: int, amount: int, customer: int = 0
) -> bytes:
    return purchase_mac(master_key.meter_key(meter_number, 1), customer, count, amount)


async def test_read_state_matches_the_simulated_meter(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus], clock: ManualClock
) -> None:
    clock.advance(20 * HOUR)
    driver = AcrelMeter(modbus(buses, "GW-A"), 2, "DDSY1352-NK", TZ)
    state = await driver.read_state()
    truth = mixed_site.meter("GW-A", 2).snapshot()
    assert state.type_code == 7
    assert len(state.phases) == 1
    assert state.energy.total == truth.energy_total.quantize(Decimal("0.01"), "ROUND_FLOOR")
    assert state.remaining_credit == truth.credit
    assert state.relay_closed
    assert state.clock == clock.now().astimezone(TZ)


async def test_trip_close_keep_power_and_resume(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus]
) -> None:
    driver = AcrelMeter(modbus(buses, "GW-A"), 3, "DDSY1352-NK", TZ, with_control=True)
    await driver.trip()
    state = await driver.read_state()
    assert (state.relay_closed, state.forced) == (False, ForcedMode.FORCED_TRIP)
    await driver.close()
    assert (await driver.read_state()).relay_closed
    mixed_site.meter("GW-A", 3).set_credit(Decimal("-5.00"))
    assert not (await driver.read_state()).relay_closed  # no credit: the meter holds it open
    await driver.keep_power(True)
    state = await driver.read_state()
    assert (state.relay_closed, state.forced, state.arrears) == (True, ForcedMode.KEEP_POWER, True)
    await driver.resume_prepaid()
    state = await driver.read_state()
    assert (state.relay_closed, state.forced) == (False, ForcedMode.PREPAID)


async def test_meter_trips_itself_at_zero_credit(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus], clock: ManualClock
) -> None:
    mixed_site.meter("GW-A", 4).set_credit(Decimal("0.05"))
    driver = AcrelMeter(modbus(buses, "GW-A"), 4, "DDSY1352-NK", TZ)
    assert (await driver.read_state()).relay_closed
    clock.advance(6 * HOUR)
    state = await driver.read_state()
    assert (state.relay_closed, state.arrears, state.alarm2) == (False, True, True)
    assert state.remaining_credit <= 0


async def test_purchase_is_accepted_once_and_bad_ones_are_rejected(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus], master_key: MasterKey
) -> None:
    meter = mixed_site.meter("GW-A", 1)
    number, before = meter.meter_number, meter.snapshot().credit
    driver = AcrelMeter(modbus(buses, "GW-A"), 1, "DDSY1352-NK", TZ)
    await driver.push_credit(10_000, 1, mac(master_key, number, 1, 10_000))
    state = await driver.read_state()
    assert state.purchase_count == 1
    assert state.remaining_credit >= before + Decimal("99.99")
    cases = [
        (1, mac(master_key, number, 1, 10_000), PurchaseReason.DUPLICATE),  # replay
        (3, mac(master_key, number, 3, 10_000), PurchaseReason.COUNT_ERROR),  # skipped
        (2, bytes(4), PurchaseReason.MAC_FAILED),
        (2, mac(master_key, "000000000001", 2, 10_000), PurchaseReason.MAC_FAILED),  # wrong key
    ]
    for count, code, reason in cases:
        with pytest.raises(PurchaseRejected) as rejected:
            await driver.push_credit(10_000, count, code)
        assert (rejected.value.reason, rejected.value.meter_count) == (reason, 1)
    assert (await driver.read_state()).purchase_count == 1


async def test_adf300_three_phase_circuit_over_modbus_tcp(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus]
) -> None:
    # Box ADF-2 starts at address 13: circuits 1–4 are three-phase, 5–10 single-phase.
    three = AcrelMeter(modbus(buses, "GW-B"), 13, "ADF300", TZ)
    single = AcrelMeter(modbus(buses, "GW-B"), 17, "ADF300", TZ)
    assert (len((await three.read_state()).phases), len((await single.read_state()).phases)) == (
        3,
        1,
    )
    prices = Prices(Decimal("1.5"), Decimal("1.1"), Decimal("0.8"), Decimal("0.4"))
    await three.set_prices(prices)
    assert mixed_site.meter("GW-B", 13).prices == prices_tuple(prices)
    assert (await three.read_fee_settings()).prices == prices


def prices_tuple(prices: Prices) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    return (prices.sharp, prices.peak, prices.flat, prices.valley)


async def test_clock_sync_corrects_drift(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus], clock: ManualClock
) -> None:
    mixed_site.meter("GW-A", 5).faults.clock_drift_s = -600
    driver = AcrelMeter(modbus(buses, "GW-A"), 5, "DDSY1352-NK", TZ)
    assert (await driver.read_state()).clock == (
        clock.now() - 10 * dt.timedelta(minutes=1)
    ).astimezone(TZ)
    await driver.sync_clock(clock.now())
    assert (await driver.read_state()).clock == clock.now().astimezone(TZ)


async def test_dead_meter_times_out_for_the_driver(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus]
) -> None:
    mixed_site.meter("GW-A", 6).faults.dead = True
    with pytest.raises(ResponseTimeout):
        await AcrelMeter(modbus(buses, "GW-A"), 6, "DDSY1352-NK", TZ).read_state()
    assert (await AcrelMeter(modbus(buses, "GW-A"), 5, "DDSY1352-NK", TZ).read_state()).relay_closed


async def test_water_valve_opens_and_closes(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus], clock: ManualClock
) -> None:
    driver = WaterMeter(modbus(buses, "GW-A"), 21, TZ)
    clock.advance(10 * HOUR)
    state = await driver.read_state()
    assert state.energy_unit == "m3"
    assert state.energy.total > 0
    assert state.relay_closed
    await driver.close_valve()
    assert not (await driver.read_state()).relay_closed
    volume = (await driver.read_state()).energy.total
    clock.advance(10 * HOUR)
    assert (await driver.read_state()).energy.total == volume  # no flow while closed
    await driver.open_valve()
    assert (await driver.read_state()).relay_closed


async def test_dlt645_read_relay_and_recharge(
    mixed_site: SimSite,
    buses: dict[str, ModbusBus | Dlt645Bus],
    master_key: MasterKey,
    clock: ManualClock,
) -> None:
    clock.advance(8 * HOUR)
    driver = Dlt645Meter(dlt(buses), DLT_ADDRESS, TZ, customer_number=4711)
    truth = mixed_site.meter("GW-D", int(DLT_ADDRESS)).snapshot()
    state = await driver.read_state()
    assert state.energy.total == truth.energy_total.quantize(Decimal("0.01"), "ROUND_FLOOR")
    assert state.remaining_credit == truth.credit
    assert state.relay_closed
    await driver.trip()
    assert not (await driver.read_state()).relay_closed
    await driver.close()
    assert (await driver.read_state()).relay_closed
    await driver.push_credit(5_000, 1, mac(master_key, DLT_ADDRESS, 1, 5_000, 4711))
    assert (await driver.read_state()).purchase_count == 1
    for count, code, reason in [
        (1, mac(master_key, DLT_ADDRESS, 1, 5_000, 4711), PurchaseReason.DUPLICATE),
        (3, mac(master_key, DLT_ADDRESS, 3, 5_000, 4711), PurchaseReason.COUNT_ERROR),
        (2, bytes(4), PurchaseReason.MAC_FAILED),
    ]:
        with pytest.raises(PurchaseRejected) as rejected:
            await driver.push_credit(5_000, count, code)
        assert (rejected.value.reason, rejected.value.meter_count) == (reason, 1)
    other = Dlt645Meter(dlt(buses), DLT_ADDRESS, TZ, customer_number=9)
    with pytest.raises(PurchaseRejected) as mismatch:
        await other.push_credit(5_000, 2, mac(master_key, DLT_ADDRESS, 2, 5_000, 9))
    assert mismatch.value.reason is PurchaseReason.CUSTOMER_MISMATCH


async def test_dlt645_keep_power_and_resume(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus]
) -> None:
    address = "123456781012"
    driver = Dlt645Meter(dlt(buses), address, TZ)
    mixed_site.meter("GW-D", int(address)).set_credit(Decimal("-1.00"))
    assert not (await driver.read_state()).relay_closed
    await driver.keep_power(True)
    assert (await driver.read_state()).relay_closed
    await driver.resume_prepaid()
    assert not (await driver.read_state()).relay_closed


async def test_hoarding_cap_and_alarm_thresholds_written_by_the_driver(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus], master_key: MasterKey
) -> None:
    meter = mixed_site.meter("GW-A", 6)
    meter.set_credit(Decimal("100.00"))
    meter.configure(hoarding_limit=Decimal("150.00"))
    driver = AcrelMeter(modbus(buses, "GW-A"), 6, "DDSY1352-NK", TZ)
    with pytest.raises(PurchaseRejected) as rejected:
        await driver.push_credit(6_000, 1, mac(master_key, meter.meter_number, 1, 6_000))
    assert (rejected.value.reason, rejected.value.meter_count) == (
        PurchaseReason.HOARDING_EXCEEDED,
        0,
    )
    await driver.push_credit(5_000, 1, mac(master_key, meter.meter_number, 1, 5_000))
    assert (await driver.read_state()).remaining_credit == Decimal("150.00")
    assert not (await driver.read_state()).alarm1
    await driver.set_alarm_thresholds(
        Decimal("200.00"), Decimal("160.00"), overdraft=Decimal("5.00")
    )
    state = await driver.read_state()
    assert (state.alarm1, state.alarm2) == (True, True)
    assert meter.overdraft_limit == Decimal("5.00")
    settings = await driver.read_fee_settings()
    assert (settings.hoarding_limit, settings.total_purchased) == (
        Decimal("150.00"),
        Decimal("50.00"),
    )


@pytest.mark.parametrize(
    ("gateway", "address", "model"),
    [("GW-A", 3, "DDSY1352-NK"), ("GW-B", 13, "ADF300"), ("GW-D", 123456781013, "DLT645")],
    ids=["ddsy-rtu", "adf300-three-phase-tcp", "dlt645"],
)
async def test_a_tripped_meters_credit_is_cleared_and_nothing_else_moves(
    mixed_site: SimSite,
    buses: dict[str, ModbusBus | Dlt645Bus],
    clock: ManualClock,
    gateway: str,
    address: int,
    model: str,
) -> None:
    meter = mixed_site.meter(gateway, address)
    meter.set_credit(Decimal("42.50"))
    driver: AcrelMeter | Dlt645Meter = (
        Dlt645Meter(dlt(buses), f"{address:012d}", TZ)
        if model == "DLT645"
        else AcrelMeter(modbus(buses, gateway), address, model, TZ)
    )
    await driver.trip()
    before = await driver.read_state()
    assert (before.remaining_credit, before.relay_closed) == (Decimal("42.50"), False)

    await driver.clear_credit()

    after = await driver.read_state()
    assert (after.remaining_credit, after.relay_closed) == (Decimal("0.00"), False)
    assert after.purchase_count == before.purchase_count
    assert after.energy.total == before.energy.total
    assert meter.snapshot().credit == Decimal("0.00")


async def test_a_dlt645_clear_without_the_meters_password_changes_nothing(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus]
) -> None:
    from pems.devices.dlt645_meter import Dlt645Credentials
    from pems.devices.errors import ExceptionResponse

    address = "123456781013"
    mixed_site.meter("GW-D", int(address)).set_credit(Decimal("42.50"))
    intruder = Dlt645Meter(
        dlt(buses), address, TZ, credentials=Dlt645Credentials(password=b"\x02\x99\x99\x99")
    )
    with pytest.raises(ExceptionResponse) as refused:
        await intruder.clear_credit()
    assert "unauthorised" in refused.value.reasons
    assert mixed_site.meter("GW-D", int(address)).snapshot().credit == Decimal("42.50")


async def test_the_simulated_acrel_meter_takes_no_credit_but_a_clear(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus]
) -> None:
    from pems.devices.errors import ExceptionResponse

    mixed_site.meter("GW-A", 3).set_credit(Decimal("42.50"))
    driver = AcrelMeter(modbus(buses, "GW-A"), 3, "DDSY1352-NK", TZ)
    with pytest.raises(ExceptionResponse):  # credit arrives by purchases (count + MAC) only
        await driver._write_fields(driver.regmap.block("fee_control"), {"fc_remaining": 500})
    assert mixed_site.meter("GW-A", 3).snapshot().credit == Decimal("42.50")


async def test_a_water_meter_cannot_clear_credit_and_says_which_meter(
    mixed_site: SimSite, buses: dict[str, ModbusBus | Dlt645Bus]
) -> None:
    from pems.devices.errors import TerminalDeviceError

    with pytest.raises(TerminalDeviceError, match=r"WATER-VALVE .*clearing its credit.*meter 21"):
        await WaterMeter(modbus(buses, "GW-A"), 21, TZ).clear_credit()
