"""The built-in plans describe the reference sites exactly."""

from __future__ import annotations

from collections import Counter

import pytest

from pems.siteplan import (
    AreaKind,
    FeeControl,
    ModelCode,
    Parity,
    Protocol,
    SheetError,
    load_plan,
    mixed,
    plaza,
    scale_plan,
)


def test_plaza_is_242_meters_in_8_shafts_and_a_garage() -> None:
    plan = plaza()
    assert plan.meter_count == 242
    assert len(plan.gateways) == 9
    kinds = Counter(m.location.area_kind for _, m in plan.points())
    assert kinds == {AreaKind.RISER_SHAFT: 216, AreaKind.GARAGE: 26}
    assert {
        m.location.area for _, m in plan.points() if m.location.area_kind is AreaKind.RISER_SHAFT
    } == {f"Shaft {n}" for n in range(1, 9)}
    for gateway in plan.gateways:
        assert len(gateway.meters) <= 32
        assert gateway.protocol is Protocol.MODBUS_RTU_OVER_TCP
        assert (gateway.serial.baud, gateway.serial.parity, gateway.serial.stop_bits) == (
            9600,
            Parity.NONE,
            1,
        )
        assert {m.model for m in gateway.meters} == {ModelCode.DTSY1352_NK}
    assert [g.port for g in plan.gateways] == list(range(15020, 15029))


def test_mixed_has_the_other_models_and_every_protocol() -> None:
    plan = mixed()
    assert {m.model for _, m in plan.points()} == set(ModelCode) - {ModelCode.DTSY1352_NK}
    assert {g.protocol for g in plan.gateways} == set(Protocol)
    dlt = plan.gateway("GW-D")
    assert (dlt.serial.baud, dlt.serial.parity) == (2400, Parity.EVEN)
    phases = Counter(m.circuit.phases for _, m in plan.points() if m.circuit)
    assert phases == {1: 18, 3: 4}
    water = [m for _, m in plan.points() if m.model is ModelCode.WATER_VALVE]
    assert water
    assert all(m.fee_control is FeeControl.SERVER_SIDE for m in water)


def test_scale_plan_for_the_collector_benchmark() -> None:
    plan = scale_plan(3125, 32)
    assert plan.meter_count == 100_000
    assert len({(g.host, g.port) for g in plan.gateways}) == 3125
    assert len({m.meter_number for _, m in plan.points()}) == 100_000


def test_load_plan_by_name_and_generator() -> None:
    assert load_plan("plaza", base_port=20000).gateways[0].port == 20000
    assert load_plan("scale:2x3").meter_count == 6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nowhere", "is not plaza, mixed"),
        ("missing.csv", "no such file"),
        ("scale:1x300", "1–247 meters per gateway"),
    ],
)
def test_load_plan_rejects_unknown_specs(spec: str, message: str) -> None:
    with pytest.raises(SheetError, match=message):
        load_plan(spec)
