"""factory_boy factories for every model; catalogue models come from pems/devices/catalogue.toml."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from pems.accounts.models import Account, AccountMeteringPoint, Tenant
from pems.inventory.choices import LocationKind
from pems.inventory.models import Gateway, Location, Meter, MeteringPoint, MeterModel, Site
from pems.inventory.models.catalogue import sync_catalogue


def catalogue_model(code: str) -> MeterModel:
    """A catalogue model, loading the catalogue first if this database lacks it."""
    found = MeterModel.objects.filter(code=code).first()
    if found is None:
        sync_catalogue()
        found = MeterModel.objects.get(code=code)
    return found


class SiteFactory(DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")


class LocationFactory(DjangoModelFactory):
    class Meta:
        model = Location

    site = factory.SubFactory(SiteFactory)
    kind = LocationKind.BUILDING
    name = factory.Sequence(lambda n: f"L{n}")


class RoomFactory(LocationFactory):
    kind = LocationKind.ROOM
    parent = factory.SubFactory(
        LocationFactory,
        site=factory.SelfAttribute("..site"),
        kind=LocationKind.FLOOR,
        parent=factory.SubFactory(LocationFactory, site=factory.SelfAttribute("..site")),
    )


class GatewayFactory(DjangoModelFactory):
    class Meta:
        model = Gateway

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Gateway {n}")
    host = "127.0.0.1"
    port = factory.Sequence(lambda n: 20000 + n)
    protocol = "modbus-rtu-over-tcp"


class MeterFactory(DjangoModelFactory):
    class Meta:
        model = Meter

    gateway = factory.SubFactory(GatewayFactory)
    address = factory.Sequence(lambda n: n % 247 + 1)
    number = factory.Sequence(lambda n: f"{100000000000 + n}")
    model = factory.LazyFunction(lambda: catalogue_model("DTSY1352-NK"))


class MeteringPointFactory(DjangoModelFactory):
    class Meta:
        model = MeteringPoint

    meter = factory.SubFactory(MeterFactory)
    circuit = 1
    phases = 3


class TenantFactory(DjangoModelFactory):
    class Meta:
        model = Tenant

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Tenant {n}")
    mobile = factory.Sequence(lambda n: f"1380013{n % 10000:04d}")


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    tenant = factory.SubFactory(TenantFactory)


class AccountMeteringPointFactory(DjangoModelFactory):
    class Meta:
        model = AccountMeteringPoint

    account = factory.SubFactory(AccountFactory)
    metering_point = factory.LazyAttribute(
        lambda link: MeteringPointFactory(meter__gateway__site=link.account.tenant.site)
    )


def staff_user(role: str, *sites, username: str | None = None, all_sites: bool = False):
    """A login holding ``role`` over ``sites`` (or every site)."""
    from django.contrib.auth import get_user_model

    from pems.access.models import Staff

    user = get_user_model().objects.create_user(
        username or f"{role}-{get_user_model().objects.count() + 1}", password="x-Secret-42"
    )
    staff = Staff.objects.create(user=user, role=role, all_sites=all_sites)
    staff.sites.set(sites)
    return user
