"""The demo plaza: its sheet, its tenants and accounts, and one login per role.

``pems demo`` writes :func:`demo_plan` as a sheet, serves it with the
simulator and loads it with the importer — the same single path an installer
uses — then calls :func:`seed_demo` and :func:`ensure_logins`. Both are
idempotent: a second run finds its tenants and users and changes nothing.

The spread of states comes from a 12-slot cycle over the plaza's 242 points
(:data:`SLOTS`): both fee-control modes, the flat, TOU and tiered example
tariffs, accounts that are normal, already in alarm 1 / 2 or in arrears, a few
only just above an alarm (the accelerated load crosses it within minutes),
keep-power on each side, and rooms with no account at all.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib import resources
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from pems.access.models import Staff
from pems.access.roles import Role
from pems.accounts.actions import create_tenant, open_account
from pems.accounts.models import Tenant
from pems.audit.log import diff, record, snapshot
from pems.billing.actions import sell
from pems.billing.models import Tariff
from pems.billing.policy import apply_policy
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.control import actions as control
from pems.control.models import CommandKind
from pems.domain.money import Money
from pems.inventory.models import MeteringPoint, Site
from pems.siteplan import FeeControl, Prices, SitePlan, plaza

DEMO_SITE = "Demo Plaza 示范广场"
ACTOR = "pems demo"
#: The example tariffs (docs/tariffs.md) the demo sells under.
TARIFF_DIR = resources.files("pems.examples") / "tariffs"  # package data: any install has it
TARIFF_FILES = {"flat": "flat.toml", "tou": "tou.toml", "tiered": "tiered.toml"}
#: Meter-side meters price with the TOU tariff's rates (sharp, peak, flat, valley).
METER_SIDE_PRICES = Prices(
    Decimal("1.3512"), Decimal("1.1053"), Decimal("0.6632"), Decimal("0.2981")
)


@dataclass(frozen=True)
class Slot:
    """What one metering point of the demo gets: its fee control, tariff and opening sale."""

    fee_control: FeeControl
    tariff: str | None  # None: the room has no account ("not opened")
    sale: Decimal | None  # None: opened without a sale (arrears at once)
    state: str
    keep_power: bool = False


_M, _S = FeeControl.METER_SIDE, FeeControl.SERVER_SIDE
#: Site defaults: alarm 1 at 50.00, alarm 2 at 20.00, trip at 0.
SLOTS: tuple[Slot, ...] = (
    Slot(_S, "flat", Decimal("320.00"), "normal"),
    Slot(_M, "tou", Decimal("260.00"), "normal"),
    Slot(_S, "tou", Decimal("35.00"), "alarm 1"),
    Slot(_M, "tou", Decimal("53.00"), "near alarm 1"),
    Slot(_S, "tiered", None, "arrears"),
    Slot(_M, "tou", None, "arrears"),
    Slot(_S, "flat", None, "arrears, keep-power", keep_power=True),
    Slot(_S, "tiered", Decimal("480.00"), "normal"),
    Slot(_M, "tou", Decimal("12.00"), "alarm 2"),
    Slot(_S, "flat", Decimal("24.00"), "near alarm 2"),
    Slot(_M, "tou", Decimal("8.00"), "keep-power", keep_power=True),
    Slot(_S, None, None, "not opened"),
)

_SHOPS = (
    "Lucky Noodles 福满面馆",
    "Green Tea House 绿茶坊",
    "Star Phones 星辰通讯",
    "Bright Optics 明亮眼镜",
    "Golden Bakery 金麦烘焙",
    "Jade Pharmacy 玉泉药房",
    "Sunny Florist 阳光花店",
    "Panda Books 熊猫书店",
    "Silk Road Tailor 丝路裁缝",
    "Happy Kids 快乐童装",
    "Lotus Spa 莲花水疗",
    "Dragon Gym 龙腾健身",
    "Blue Sea Seafood 蓝海海鲜",
)


def slot_of(index: int) -> Slot:
    """The slot of the ``index``-th point in sheet order."""
    return SLOTS[index % len(SLOTS)]


def demo_plan(host: str = "127.0.0.1", base_port: int = 15020) -> SitePlan:
    """The reference plaza with the demo's fee controls; meters start with no credit.

    Credit reaches meter-side meters only as PEMS sells it (pushed by the
    collector), so the ledger and the meters agree from the first sale.
    """
    plan = plaza(host, base_port)
    gateways, index = [], 0
    for gateway in plan.gateways:
        meters = []
        for meter in gateway.meters:
            slot = slot_of(index)
            prices = METER_SIDE_PRICES if slot.fee_control is _M else meter.prices
            meters.append(
                replace(
                    meter, fee_control=slot.fee_control, prices=prices, initial_credit=Decimal(0)
                )
            )
            index += 1
        gateways.append(replace(gateway, meters=tuple(meters)))
    return SitePlan(DEMO_SITE, tuple(gateways))


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed_demo` did: nothing on a second run."""

    tenants: int
    accounts: int
    sales: int

    @property
    def created(self) -> bool:
        return bool(self.tenants)


def ensure_site() -> Site:
    """The demo site, created (and audited) on the first run."""
    site = Site.objects.filter(name=DEMO_SITE).first()
    if site is None:
        site = Site(name=DEMO_SITE)
        site.full_clean()
        site.save()
        record(ACTOR, "create", site, diff({}, snapshot(site)), "pems demo")
    return site


@transaction.atomic
def seed_demo(site: Site, plan: SitePlan) -> Seeded:
    """Tenants, accounts, tariffs and opening sales for the imported plan; once per site.

    Everything goes through the actions a cashier's screen uses (open, assign
    tariff, sell, apply policy, keep-power), so the ledger, the command queue
    and the audit log look exactly as they would after a day of real work.
    """
    if Tenant.objects.filter(site=site).exists():
        return Seeded(0, 0, 0)
    tariffs = ensure_tariffs(site)
    points = {
        p.meter_number: p
        for p in MeteringPoint.objects.filter(meter__gateway__site=site).select_related(
            "room", "meter"
        )
    }
    tenants = accounts = sales = 0
    now = timezone.now()
    for index, (_, planned) in enumerate(plan.points()):
        slot = slot_of(index)
        point = points[planned.meter_number]
        if slot.tariff is None:
            continue
        tenant = create_tenant(
            site.pk,
            f"{_SHOPS[index % len(_SHOPS)]} · {point.room.name if point.room else index}",
            ACTOR,
            "demo tenant",
            mobile=f"1380013{index:04d}",
            room_id=point.room_id,
        )
        account = open_account(
            tenant, [point], ACTOR, reason="demo account", keep_power=slot.keep_power
        )
        assign_tariff(account, tariffs[slot.tariff], now, ACTOR, reason="demo tariff")
        tenants, accounts = tenants + 1, accounts + 1
        if slot.sale is not None:
            sale = Money(slot.sale, site.currency)
            sell(account, sale, "cash", ACTOR, f"demo:{point.meter_number}", "opening sale")
            sales += 1
        else:
            apply_policy(account, actor=ACTOR)
        if slot.keep_power and slot.fee_control is _M:
            control.enqueue(point, CommandKind.KEEP_POWER_ON, actor=ACTOR, reason="demo keep-power")
    return Seeded(tenants, accounts, sales)


def ensure_tariffs(site: Site) -> dict[str, Tariff]:
    """The flat, TOU and tiered example tariffs, created once for the site."""
    tariffs = {}
    for kind, filename in TARIFF_FILES.items():
        document = (TARIFF_DIR / filename).read_text(encoding="utf-8")
        name = str(tomllib.loads(document)["name"])
        found = Tariff.objects.filter(site=site, name=name).first()
        tariffs[kind] = found or create_tariff(site, name, document, ACTOR, "demo tariff")
    return tariffs


@dataclass(frozen=True)
class Login:
    role: Role
    username: str
    password: str


def demo_passwords(path: Path) -> dict[str, str]:
    """One password per role, generated on the first run and kept (mode 0600) in ``path``.

    ``PEMS_DEMO_PASSWORD`` gives every demo login that password instead.
    """
    if shared := os.environ.get("PEMS_DEMO_PASSWORD"):
        return {role.value: shared for role in Role}
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = {role.value for role in Role} - known.keys()
    if missing:
        known |= {name: secrets.token_urlsafe(12) for name in sorted(missing)}
        path.write_text(json.dumps(known, indent=2))
        path.chmod(0o600)
    return known


@transaction.atomic
def ensure_logins(site: Site, passwords: dict[str, str]) -> list[Login]:
    """One user per role (username = role); the admin is a superuser over every site.

    Manager and read-only cover every site; cashier and operator only the
    demo site, to show per-site scope. A password is reset only when it no
    longer matches the kept one.
    """
    users = get_user_model()
    logins = []
    for role in Role:
        user, created = users.objects.get_or_create(username=role.value)
        password = passwords[role.value]
        if created or not user.check_password(password):
            user.set_password(password)
        user.is_superuser = user.is_staff = role is Role.ADMIN
        user.is_active = True
        user.save()
        staff, _ = Staff.objects.update_or_create(
            user=user,
            defaults={"role": role, "all_sites": role in {Role.ADMIN, Role.MANAGER, Role.READONLY}},
        )
        if not staff.all_sites:
            staff.sites.add(site)
        if created:
            record(ACTOR, "create", user, {"role": [None, role.value]}, "demo login")
        logins.append(Login(role, role.value, password))
    return logins
