"""Every inventory rule, checked by validation (field named) and, where it is a
database constraint, by the database itself — on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from pems.inventory.models import Gateway, Location, Meter, MeteringPoint
from tests.factories import (
    GatewayFactory,
    LocationFactory,
    MeterFactory,
    MeteringPointFactory,
    RoomFactory,
    SiteFactory,
    catalogue_model,
)

pytestmark = pytest.mark.django_db


def errors_of(obj) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as excinfo:
        obj.full_clean()
    return excinfo.value.message_dict


@pytest.mark.parametrize("address", [0, 248, 300])
def test_modbus_address_outside_1_to_247_is_refused_on_the_address_field(rtu_gateway, address):
    meter = MeterFactory.build(gateway=rtu_gateway, address=address)
    assert "outside 1–247" in errors_of(meter)["address"][0]


@pytest.mark.parametrize("address", [1, 247])
def test_modbus_address_limits_are_accepted(rtu_gateway, address):
    MeterFactory.build(gateway=rtu_gateway, address=address).full_clean()


def test_duplicate_address_on_a_gateway_is_refused_by_validation_and_database(rtu_gateway):
    MeterFactory(gateway=rtu_gateway, address=5)
    twin = MeterFactory.build(gateway=rtu_gateway, address=5)
    assert "has this address" in errors_of(twin)["address"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_same_address_on_another_gateway_is_fine(rtu_gateway, site):
    MeterFactory(gateway=rtu_gateway, address=5)
    MeterFactory.build(gateway=GatewayFactory(site=site), address=5).full_clean()


def test_a_removed_meter_frees_its_address_for_its_replacement(rtu_gateway):
    old = MeterFactory(gateway=rtu_gateway, address=9, installed_on=dt.date(2024, 1, 1))
    old.removed_on = dt.date(2026, 3, 1)
    old.save()
    replacement = MeterFactory.build(gateway=rtu_gateway, address=9)
    replacement.full_clean()
    replacement.save()
    assert Meter.objects.filter(gateway=rtu_gateway, address=9).count() == 2


def test_removal_before_installation_is_refused_by_the_database(rtu_gateway):
    meter = MeterFactory.build(
        gateway=rtu_gateway, installed_on=dt.date(2026, 5, 1), removed_on=dt.date(2026, 4, 1)
    )
    assert "before it was installed" in errors_of(meter)["removed_on"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        meter.save()


def test_an_adf300_box_reserves_one_address_per_circuit(rtu_gateway):
    MeterFactory(gateway=rtu_gateway, address=1, address_count=36, model=catalogue_model("ADF300"))
    inside = MeterFactory.build(gateway=rtu_gateway, address=20)
    assert "overlap" in errors_of(inside)["address"][0]
    MeterFactory.build(gateway=rtu_gateway, address=37).full_clean()


def test_an_adf300_box_cannot_run_past_address_247(rtu_gateway):
    box = MeterFactory.build(
        gateway=rtu_gateway, address=240, address_count=12, model=catalogue_model("ADF300")
    )
    assert "past the last Modbus address" in errors_of(box)["address_count"][0]


def test_a_single_meter_cannot_claim_several_circuits(rtu_gateway):
    meter = MeterFactory.build(gateway=rtu_gateway, address_count=2)
    assert "at most 1 circuits" in errors_of(meter)["address_count"][0]


def test_dlt645_addresses_are_12_digits_and_never_broadcast(dlt645_gateway):
    model = catalogue_model("DLT645-GENERIC")
    MeterFactory.build(gateway=dlt645_gateway, address=123456781012, model=model).full_clean()
    broadcast = MeterFactory.build(gateway=dlt645_gateway, address=999999999999, model=model)
    assert "broadcast" in errors_of(broadcast)["address"][0]
    assert MeterFactory.build(gateway=dlt645_gateway, address=1, model=model).display_address == (
        "000000000001"
    )


def test_a_modbus_meter_on_a_dlt645_gateway_is_refused(dlt645_gateway):
    meter = MeterFactory.build(gateway=dlt645_gateway, address=123456781012)
    assert "speaks Modbus-RTU" in errors_of(meter)["model"][0]


def test_malformed_meter_number_is_refused(rtu_gateway):
    assert (
        "digits" in errors_of(MeterFactory.build(gateway=rtu_gateway, number="12AB"))["number"][0]
    )


def adf300_box(gateway, count=36):
    return MeterFactory(
        gateway=gateway, address=1, address_count=count, model=catalogue_model("ADF300")
    )


def test_the_37th_single_phase_adf300_circuit_is_refused(rtu_gateway):
    box = adf300_box(rtu_gateway)
    MeteringPoint.objects.bulk_create(
        MeteringPoint(meter=box, circuit=n, phases=1) for n in range(1, 37)
    )
    extra = MeteringPointFactory.build(meter=box, circuit=37, phases=1)
    assert "circuit 37 does not exist" in errors_of(extra)["circuit"][0]


def test_a_13th_three_phase_adf300_circuit_is_refused(rtu_gateway):
    box = adf300_box(rtu_gateway)
    MeteringPoint.objects.bulk_create(
        MeteringPoint(meter=box, circuit=n, phases=3) for n in range(1, 13)
    )
    extra = MeteringPointFactory.build(meter=box, circuit=13, phases=3)
    assert "at most 12 three-phase circuits" in errors_of(extra)["phases"][0]


def test_a_mixed_adf300_layout_is_limited_to_36_phases(rtu_gateway):
    box = adf300_box(rtu_gateway)
    MeteringPoint.objects.bulk_create(
        [MeteringPoint(meter=box, circuit=n, phases=3) for n in range(1, 11)]  # 30 phases
        + [MeteringPoint(meter=box, circuit=n, phases=1) for n in range(11, 17)]  # 36 phases
    )
    extra = MeteringPointFactory.build(meter=box, circuit=17, phases=1)
    assert "at most 36 phases" in errors_of(extra)["phases"][0]


def test_a_circuit_has_one_metering_point(rtu_gateway):
    point = MeteringPointFactory(meter=MeterFactory(gateway=rtu_gateway))
    twin = MeteringPointFactory.build(meter=point.meter, circuit=1)
    assert "already has a metering point" in errors_of(twin)["circuit"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_a_water_meter_cannot_hold_credit(rtu_gateway):
    meter = MeterFactory(gateway=rtu_gateway, model=catalogue_model("WATER-VALVE"))
    point = MeteringPointFactory.build(
        meter=meter, phases=1, utility="water", fee_control="meter-side"
    )
    assert "server-side" in errors_of(point)["fee_control"][0]


def test_a_metering_point_utility_follows_its_meter_model(rtu_gateway):
    point = MeteringPointFactory.build(meter=MeterFactory(gateway=rtu_gateway), utility="water")
    assert "meters Electricity" in errors_of(point)["utility"][0]


def test_a_metering_point_serves_a_room_of_its_own_site(rtu_gateway):
    elsewhere = RoomFactory()
    point = MeteringPointFactory.build(meter=MeterFactory(gateway=rtu_gateway), room=elsewhere)
    assert "room of the meter's site" in errors_of(point)["room"][0]


def test_circuit_bus_address_follows_the_box_base_address(rtu_gateway):
    box = MeterFactory(
        gateway=rtu_gateway, address=37, address_count=4, model=catalogue_model("ADF300")
    )
    assert MeteringPointFactory.build(meter=box, circuit=3, phases=1).bus_address == 39


def test_gateway_endpoint_is_unique(site):
    GatewayFactory(site=site, host="10.0.0.5", port=502)
    twin = GatewayFactory.build(site=site, host="10.0.0.5", port=502)
    assert "host and port" in errors_of(twin)["port"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_gateway_port_must_be_a_tcp_port(site):
    assert "port" in errors_of(GatewayFactory.build(site=site, port=70000))


def test_gateway_location_belongs_to_its_site(site):
    shaft = LocationFactory(kind="shaft")
    assert (
        "another site" in errors_of(GatewayFactory.build(site=site, location=shaft))["location"][0]
    )


def test_location_tree_rules(site):
    building = LocationFactory(site=site, kind="building")
    floor = LocationFactory(site=site, kind="floor", parent=building)
    room = LocationFactory(site=site, kind="room", parent=floor)
    assert str(room) == f"{building.name} / {floor.name} / {room.name}"
    assert "inside a building" in errors_of(Location(site=site, kind="room", name="x"))["parent"][0]
    assert (
        "cannot be inside"
        in errors_of(Location(site=site, kind="floor", name="x", parent=room))["parent"][0]
    )
    assert (
        "top of the site"
        in errors_of(Location(site=site, kind="shaft", name="x", parent=building))["parent"][0]
    )
    other = LocationFactory(kind="building")
    assert (
        "another site"
        in errors_of(Location(site=site, kind="floor", name="x", parent=other))["parent"][0]
    )


def test_location_names_are_unique_among_siblings(site):
    building = LocationFactory(site=site, kind="building", name="A")
    LocationFactory(site=site, kind="floor", name="1F", parent=building)
    twin_floor = Location(site=site, kind="floor", name="1F", parent=building)
    assert "already used here" in errors_of(twin_floor)["name"][0]
    twin_building = Location(site=site, kind="building", name="A")
    assert "already used at the top" in errors_of(twin_building)["name"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        twin_building.save()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Mars/Olympus", "not a known time zone"),
        ("currency", "rmb", "ISO 4217"),
    ],
)
def test_site_fields_are_validated(field, value, message):
    site = SiteFactory.build(**{field: value})
    assert message in errors_of(site)[field][0]


def test_site_alarm1_must_be_above_alarm2_even_in_the_database():
    site = SiteFactory.build(default_alarm1_threshold=10, default_alarm2_threshold=20)
    assert "above alarm 2" in errors_of(site)["default_alarm1_threshold"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        site.save()


def test_gateway_protocol_decides_the_meter_protocol_family(rtu_gateway, dlt645_gateway):
    assert rtu_gateway.protocol_family == "modbus"
    assert dlt645_gateway.protocol_family == "dlt645"
    assert Gateway.objects.count() == 2


def test_a_circuit_may_carry_its_own_meter_number_for_its_keys(rtu_gateway):
    box = MeterFactory(
        gateway=rtu_gateway,
        address=1,
        address_count=2,
        model=catalogue_model("ADF300"),
        number="300000000000",
    )
    first = MeteringPointFactory(meter=box, circuit=1, phases=1)
    second = MeteringPointFactory(meter=box, circuit=2, phases=1, number="300000000002")
    assert (first.meter_number, second.meter_number) == ("300000000000", "300000000002")
    bad = MeteringPointFactory.build(meter=box, circuit=2, phases=1, number="30-2")
    assert "digits" in errors_of(bad)["number"][0]
