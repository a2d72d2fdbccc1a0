"""A small plaza for console tests: rooms in every state, two sites, a login per role."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from pems.accounts import actions as ledger_actions
from pems.accounts.models import Account
from pems.billing import actions as billing
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.domain.money import Money
from pems.inventory.choices import LocationKind
from pems.inventory.models import Location, MeteringPoint, Site
from pems.metering.models import PointState
from tests import factories

FLAT_WITH_FEE = """
name = "Flat"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"

[[versions]]
id = "v1"
effective_from = 2025-01-01
service_fee_ratio = 0.02
prices = { flat = 1.00 }
"""

ROLES = ["admin", "manager", "cashier", "operator", "readonly"]


def sheet_rows(response) -> list[tuple]:
    """The rows of an exported workbook's first sheet, header first."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(openpyxl.load_workbook(io.BytesIO(body)).active.values)


def read(point: MeteringPoint, **fields) -> PointState:
    """The collector's latest state for a point (online, relay closed unless told)."""
    values = {
        "online": True,
        "relay_closed": True,
        "read_at": timezone.now(),
        "energy_total": Decimal("1000.000"),
        "active_power": Decimal("1.250"),
        **fields,
    }
    state, _ = PointState.objects.update_or_create(point=point, defaults=values)
    return state


def open_account(point: MeteringPoint, tenant_name: str, tariff=None, **thresholds) -> Account:
    tenant = factories.TenantFactory(site=point.meter.gateway.site, name=tenant_name)
    account = ledger_actions.open_account(tenant, [point], actor="setup", **thresholds)
    if tariff is not None:
        assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="setup")
    return account


def sell(account: Account, amount: str, key: str):
    return billing.sell(account, Money.of(amount, "CNY"), "cash", "setup", key)[0].entry


@dataclass
class Plaza:
    site: Site
    other_site: Site
    building: Location
    floor: Location
    shaft: Location
    opened: MeteringPoint  # server-side, 200 CNY
    arrears: MeteringPoint  # server-side, nothing bought
    empty: MeteringPoint  # no account
    offline: MeteringPoint
    meter_side: MeteringPoint
    elsewhere: MeteringPoint  # on the other site
    account: Account  # the opened point's account
    tariff: object


def _room(site, floor, name):
    return Location.objects.create(site=site, kind=LocationKind.ROOM, name=name, parent=floor)


@pytest.fixture
def plaza(db) -> Plaza:
    site = factories.SiteFactory(name="North Plaza")
    other = factories.SiteFactory(name="South Plaza")
    building = Location.objects.create(site=site, kind=LocationKind.BUILDING, name="A")
    floor = Location.objects.create(site=site, kind=LocationKind.FLOOR, name="1F", parent=building)
    shaft = Location.objects.create(site=site, kind=LocationKind.SHAFT, name="Shaft 1")
    gateway = factories.GatewayFactory(site=site, location=shaft)

    def point(room_name: str, number: str, **kwargs) -> MeteringPoint:
        meter = factories.MeterFactory(gateway=gateway, number=number, location=shaft)
        return factories.MeteringPointFactory(
            meter=meter, room=_room(site, floor, room_name), **kwargs
        )

    tariff = create_tariff(site, "Flat", FLAT_WITH_FEE, actor="setup")
    opened = point("A101", "240000000001")
    arrears = point("A102", "240000000002")
    empty = point("A103", "240000000003")
    offline = point("A104", "240000000004")
    meter_side = point("A105", "240000000005", fee_control="meter-side")
    for p in (opened, arrears, empty, meter_side):
        read(p)
    read(offline, online=False)
    read(meter_side, remaining_credit=Decimal("80.00"), alarm1=False, alarm2=False, arrears=False)
    account = open_account(opened, "Lucky Noodles", tariff)
    sell(account, "200.00", "setup-opened")
    open_account(arrears, "Empty Pockets", tariff)
    open_account(meter_side, "Meter Side Shop", tariff)
    open_account(offline, "Quiet Shop", tariff)

    other_gateway = factories.GatewayFactory(site=other)
    other_building = Location.objects.create(site=other, kind=LocationKind.BUILDING, name="B")
    other_floor = Location.objects.create(
        site=other, kind=LocationKind.FLOOR, name="2F", parent=other_building
    )
    elsewhere = factories.MeteringPointFactory(
        meter=factories.MeterFactory(gateway=other_gateway, number="250000000001"),
        room=_room(other, other_floor, "B201"),
    )
    read(elsewhere)
    open_account(elsewhere, "Far Away Shop")
    return Plaza(
        site, other, building, floor, shaft, opened, arrears, empty, offline, meter_side,
        elsewhere, account, tariff,
    )  # fmt: skip


@pytest.fixture
def login(client, plaza):
    """Sign in as a role scoped to the North Plaza; returns the client."""

    def as_role(role: str, *sites, all_sites: bool = False):
        user = factories.staff_user(role, *(sites or (plaza.site,)), all_sites=all_sites)
        client.force_login(user)
        client.cookies["django_language"] = "en"
        client.user = user
        return client

    return as_role
