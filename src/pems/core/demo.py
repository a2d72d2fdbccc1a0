"""A small sample site so a newcomer sees a populated console at once.

Idempotent: a second run finds the site and changes nothing. The full
simulated plaza replaces this when the demo grows (see the console issue).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from django.db import models, transaction

from pems.accounts.models import Account, AccountMeteringPoint, Tenant
from pems.inventory.choices import FeeControl, GatewayProtocol, LocationKind, Phases, Utility
from pems.inventory.models import Gateway, Location, Meter, MeteringPoint, MeterModel, Site

ModelT = TypeVar("ModelT", bound=models.Model)

DEMO_SITE = "Demo Plaza 示范广场"


def _make(model_class: type[ModelT], /, **fields: Any) -> ModelT:
    """Create a row through the same validation a person's input gets."""
    obj = model_class(**fields)
    obj.full_clean()
    obj.save()
    return obj


_TENANTS = [
    ("Lucky Noodles 福满面馆", "13800138001"),
    ("Green Tea House 绿茶坊", "13800138002"),
    ("Star Phones 星辰通讯", "13800138003"),
    ("Bright Optics 明亮眼镜", "13800138004"),
]


@transaction.atomic
def seed_demo_site() -> Site:
    """Create the demo site with its locations, a gateway, meters, tenants and accounts."""
    existing = Site.objects.filter(name=DEMO_SITE).first()
    if existing is not None:
        return existing
    site = _make(Site, name=DEMO_SITE)
    building = _make(Location, site=site, kind=LocationKind.BUILDING, name="A")
    shaft = _make(Location, site=site, kind=LocationKind.SHAFT, name="Shaft 1")
    floor = _make(Location, site=site, kind=LocationKind.FLOOR, name="1F", parent=building)
    rooms = [
        _make(Location, site=site, kind=LocationKind.ROOM, name=f"A1{n:02d}", parent=floor)
        for n in range(1, 7)
    ]
    gateway = _make(
        Gateway,
        site=site,
        location=shaft,
        name="Shaft 1 bus",
        host="127.0.0.1",
        port=15020,
        protocol=GatewayProtocol.MODBUS_RTU_OVER_TCP,
        baud=9600,
    )
    dtsy = MeterModel.objects.get(code="DTSY1352-NK")
    points = []
    for index, room in enumerate(rooms, start=1):
        meter = _make(
            Meter,
            gateway=gateway,
            address=index,
            number=f"{240000000000 + index}",
            model=dtsy,
            location=shaft,
        )
        points.append(
            _make(
                MeteringPoint,
                meter=meter,
                phases=Phases.THREE,
                utility=Utility.ELECTRICITY,
                fee_control=FeeControl.METER_SIDE if index % 2 else FeeControl.SERVER_SIDE,
                room=room,
            )
        )
    adf = _make(
        Meter,
        gateway=gateway,
        address=7,
        address_count=4,
        number="240000000100",
        model=MeterModel.objects.get(code="ADF300"),
        location=shaft,
    )
    for circuit in range(1, 5):
        _make(
            MeteringPoint,
            meter=adf,
            circuit=circuit,
            phases=Phases.SINGLE,
            name=f"Kiosk {circuit}",
            fee_control=FeeControl.SERVER_SIDE,
        )
    for (name, mobile), room, point in zip(_TENANTS, rooms, points, strict=False):
        tenant = _make(Tenant, site=site, name=name, mobile=mobile, room=room)
        account = _make(Account, tenant=tenant, alarm1_threshold=Decimal("100.00"))
        _make(AccountMeteringPoint, account=account, metering_point=point)
    return site
