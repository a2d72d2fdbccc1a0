"""Built-in site plans, generated deterministically: ``plaza``, ``mixed`` and scale plans.

``plaza`` is the reference deployment (242 DTSY1352-NK meters, 8 riser shafts
and an underground garage, one 9600 8N1 RTU-over-TCP bus each); ``mixed``
puts DDSY1352-NK meters, water valves, two ADF300 boxes (single- and
three-phase circuits) on Modbus and a DL/T 645 bus (2400 8E1) on one site;
:func:`scale_plan` makes N gateways × M meters for load tests (3,125 × 32 =
100,000 meters).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from pems.siteplan.errors import SheetError, SheetIssue, gettext_noop
from pems.siteplan.model import (
    AreaKind,
    Circuit,
    FeeControl,
    Gateway,
    Location,
    MeterPoint,
    ModelCode,
    Parity,
    Prices,
    Protocol,
    SerialSettings,
    SitePlan,
)
from pems.siteplan.sheet import read_sheet

DEFAULT_HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 15020
PLAZA_SHAFTS = 8
PLAZA_FLOORS = 9
PLAZA_ROOMS_PER_FLOOR = 3
PLAZA_GARAGE_METERS = 26

#: Plaza tariff: sharp, peak, flat, valley (CNY/kWh).
PLAZA_PRICES = Prices(Decimal("1.2000"), Decimal("1.0000"), Decimal("0.7000"), Decimal("0.3500"))
WATER_PRICES = Prices.single(Decimal("4.5000"))
RTU_9600 = SerialSettings(9600, 8, Parity.NONE, 1)
DLT645_2400 = SerialSettings(2400, 8, Parity.EVEN, 1)


def _credit(seed: int) -> Decimal:
    """A spread of opening balances (some low enough to alarm soon)."""
    return Decimal(30 + (seed * 37) % 470).quantize(Decimal("0.01"))


def _meter(
    address: int,
    number: int,
    model: ModelCode,
    location: Location,
    *,
    fee_control: FeeControl = FeeControl.METER_SIDE,
    prices: Prices = PLAZA_PRICES,
    credit: Decimal | None = None,
    circuit: Circuit | None = None,
) -> MeterPoint:
    return MeterPoint(
        address,
        f"{number:012d}",
        model,
        location,
        fee_control,
        prices,
        initial_credit=_credit(number) if credit is None else credit,
        circuit=circuit,
    )


def plaza(host: str = DEFAULT_HOST, base_port: int = DEFAULT_BASE_PORT) -> SitePlan:
    """The reference plaza: 8 shafts × 27 meters on floors 1F–9F, plus 26 in the garage."""
    gateways = []
    for shaft in range(1, PLAZA_SHAFTS + 1):
        meters = []
        for floor in range(1, PLAZA_FLOORS + 1):
            for slot in range(1, PLAZA_ROOMS_PER_FLOOR + 1):
                address = (floor - 1) * PLAZA_ROOMS_PER_FLOOR + slot
                room = f"{floor}{(shaft - 1) * PLAZA_ROOMS_PER_FLOOR + slot:02d}"
                where = Location(AreaKind.RISER_SHAFT, f"Shaft {shaft}", f"{floor}F", room)
                meters.append(
                    _meter(
                        address, 240100000000 + shaft * 1000 + address, ModelCode.DTSY1352_NK, where
                    )
                )
        gateways.append(_gateway(f"GW-S{shaft}", host, base_port + shaft - 1, meters))
    garage = [
        _meter(
            address,
            240100090000 + address,
            ModelCode.DTSY1352_NK,
            Location(AreaKind.GARAGE, "Garage", "B1", f"B1-{address:02d}"),
        )
        for address in range(1, PLAZA_GARAGE_METERS + 1)
    ]
    gateways.append(_gateway("GW-G", host, base_port + PLAZA_SHAFTS, garage))
    return SitePlan("Plaza", tuple(gateways))


def mixed(host: str = DEFAULT_HOST, base_port: int = DEFAULT_BASE_PORT) -> SitePlan:
    """Every model on one site: DDSY + water, two ADF300 boxes, and a DL/T 645 bus."""
    block = "Block A"
    bus_a = [
        _meter(
            a,
            240200000000 + a,
            ModelCode.DDSY1352_NK,
            Location(AreaKind.BUILDING, block, "1F", f"1{a:02d}"),
        )
        for a in range(1, 7)
    ] + [
        _meter(
            20 + a,
            240200000100 + a,
            ModelCode.WATER_VALVE,
            Location(AreaKind.BUILDING, block, "1F", f"1{a:02d}"),
            fee_control=FeeControl.SERVER_SIDE,
            prices=WATER_PRICES,
            credit=Decimal("0.00"),
        )
        for a in range(1, 5)
    ]
    # Box 1: 12 single-phase circuits on 1–12; box 2: 4 three-phase + 6 single on 13–22.
    box_layout = [("ADF-1", i, 1) for i in range(1, 13)]
    box_layout += [("ADF-2", i, 3 if i <= 4 else 1) for i in range(1, 11)]
    bus_b = []
    for address, (box, index, phases) in enumerate(box_layout, start=1):
        bus_b.append(
            _meter(
                address,
                240200001000 + address,
                ModelCode.ADF300,
                Location(AreaKind.BUILDING, block, "2F", f"2{address:02d}"),
                circuit=Circuit(box, index, phases),
                fee_control=FeeControl.METER_SIDE if box == "ADF-1" else FeeControl.SERVER_SIDE,
            )
        )
    bus_d = [
        _meter(
            123456781010 + a,
            123456781010 + a,
            ModelCode.DLT645_GENERIC,
            Location(AreaKind.GARAGE, "Garage", "B1", f"B1-{a:02d}"),
        )
        for a in range(1, 5)
    ]
    return SitePlan(
        "Mixed",
        (
            _gateway("GW-A", host, base_port, bus_a),
            _gateway("GW-B", host, base_port + 1, bus_b, Protocol.MODBUS_TCP),
            _gateway("GW-D", host, base_port + 2, bus_d, Protocol.DLT645_OVER_TCP, DLT645_2400),
        ),
    )


def scale_plan(
    gateways: int,
    meters_per_gateway: int,
    host: str = DEFAULT_HOST,
    base_port: int = DEFAULT_BASE_PORT,
    protocol: Protocol = Protocol.MODBUS_RTU_OVER_TCP,
) -> SitePlan:
    """``gateways`` buses × ``meters_per_gateway`` DTSY1352-NK meters (addresses 1…M)."""
    if not 1 <= meters_per_gateway <= 247 or gateways < 1:
        raise ValueError(
            gettext_noop("a scale plan needs ≥ 1 gateway and 1–247 meters per gateway")
        )
    if protocol is Protocol.DLT645_OVER_TCP:
        raise ValueError(gettext_noop("scale plans are Modbus; use a sheet for DL/T 645 at scale"))
    plan = []
    for g in range(gateways):
        location = Location(AreaKind.BUILDING, f"Building {g // 100 + 1}", f"{g % 100 + 1}F")
        meters = tuple(
            MeterPoint(
                a,
                f"{300000000000 + g * 1000 + a:012d}",
                ModelCode.DTSY1352_NK,
                location,
                FeeControl.METER_SIDE,
                PLAZA_PRICES,
                initial_credit=_credit(g * 1000 + a),
            )
            for a in range(1, meters_per_gateway + 1)
        )
        plan.append(Gateway(f"GW-{g + 1:05d}", host, base_port + g, protocol, RTU_9600, meters))
    return SitePlan(f"Scale {gateways}x{meters_per_gateway}", tuple(plan))


def _gateway(
    code: str,
    host: str,
    port: int,
    meters: list[MeterPoint],
    protocol: Protocol = Protocol.MODBUS_RTU_OVER_TCP,
    serial: SerialSettings = RTU_9600,
) -> Gateway:
    return Gateway(code, host, port, protocol, serial, tuple(meters))


_SCALE = re.compile(r"scale:(\d+)x(\d+)")


def load_plan(spec: str, host: str = DEFAULT_HOST, base_port: int = DEFAULT_BASE_PORT) -> SitePlan:
    """``plaza``, ``mixed``, ``scale:GxM`` or a path to a .csv/.xlsx sheet.

    Host and base port apply to generated plans; a sheet keeps its own endpoints.
    Raises SheetError for a bad sheet or an unknown name.
    """
    if spec == "plaza":
        return plaza(host, base_port)
    if spec == "mixed":
        return mixed(host, base_port)
    if match := _SCALE.fullmatch(spec):
        try:
            return scale_plan(int(match[1]), int(match[2]), host, base_port)
        except ValueError as exc:
            raise SheetError([SheetIssue(0, None, str(exc))]) from exc  # its text is marked
    path = Path(spec)
    if path.suffix.lower() in {".csv", ".xlsx"}:
        if not path.is_file():
            raise SheetError(
                [SheetIssue.of(0, None, gettext_noop("%(spec)s: no such file"), spec=spec)]
            )
        return read_sheet(path)
    template = gettext_noop("'%(spec)s' is not plaza, mixed, scale:GxM or a .csv/.xlsx file")
    raise SheetError([SheetIssue.of(0, None, template, spec=spec)])
