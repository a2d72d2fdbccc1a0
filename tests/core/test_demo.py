"""The demo plaza's data: imported by the importer, seeded through the cashier's actions, once."""

from __future__ import annotations

import stat
from collections import Counter
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from pems.access.models import Staff
from pems.access.roles import Role
from pems.accounts.actions import balance
from pems.accounts.models import Account, AccountMeteringPoint, Tenant
from pems.audit.models import AuditEvent
from pems.billing.models import AccountTariff, PrepaidState
from pems.control.models import Command, CommandKind
from pems.core.demo import (
    DEMO_SITE,
    SLOTS,
    demo_passwords,
    demo_plan,
    ensure_logins,
    ensure_site,
    seed_demo,
    slot_of,
)
from pems.domain.policy import AlarmLevel
from pems.inventory.choices import FeeControl
from pems.inventory.importer import import_plan
from pems.inventory.models import MeteringPoint
from pems.inventory.models.catalogue import sync_catalogue
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(db):
    sync_catalogue()
    plan = demo_plan(base_port=15020)
    site = ensure_site()
    report = import_plan(plan, site, "pems demo")
    assert report.ok, report.errors
    return site, plan


@pytest.fixture
def seeded(imported):
    site, plan = imported
    seed_demo(site, plan)
    return site


def test_the_demo_plan_is_the_plaza_with_both_fee_controls_and_empty_meters():
    plan = demo_plan(base_port=15020)

    assert plan.site == DEMO_SITE
    assert plan.meter_count == 242
    modes = Counter(meter.fee_control for _, meter in plan.points())
    assert set(modes) == {FeeControl.METER_SIDE, FeeControl.SERVER_SIDE}
    assert {meter.initial_credit for _, meter in plan.points()} == {Decimal("0.00")}


def test_seeding_twice_seeds_once(imported):
    site, plan = imported
    first = seed_demo(site, plan)
    counts = [
        model.objects.count()
        for model in (Tenant, Account, JournalEntry, Command, AuditEvent, AccountTariff)
    ]

    second = seed_demo(site, plan)

    assert first.created
    assert (first.tenants, first.accounts) == (222, 222)  # one room in twelve stays unopened
    assert not second.created
    assert counts == [
        model.objects.count()
        for model in (Tenant, Account, JournalEntry, Command, AuditEvent, AccountTariff)
    ]


def test_the_seed_has_a_spread_of_states_fee_controls_and_tariffs(seeded):
    accounts = Account.objects.filter(tenant__site=seeded)
    links = AccountMeteringPoint.objects.filter(account__in=accounts).select_related(
        "metering_point"
    )
    assert {link.metering_point.fee_control for link in links} == {
        FeeControl.METER_SIDE,
        FeeControl.SERVER_SIDE,
    }
    tariffs = set(AccountTariff.objects.values_list("tariff__name", flat=True))
    assert tariffs == {"Flat commercial", "Plaza TOU", "Dormitory tiered TOU"}
    server_side = accounts.filter(links__metering_point__fee_control=FeeControl.SERVER_SIDE)
    levels = Counter(PrepaidState.objects.filter(account__in=server_side).values_list("alarm"))
    assert levels[(AlarmLevel.NONE,)] > 0
    assert levels[(AlarmLevel.ALARM_1,)] > 0
    assert levels[(AlarmLevel.DEPLETED,)] > 0
    balances = Counter(
        "zero" if (b := balance(a).amount) == 0 else "low" if b < 50 else "normal"
        for a in server_side
    )
    assert set(balances) == {"zero", "low", "normal"}
    assert accounts.filter(keep_power=True).exists()
    billed = AccountMeteringPoint.objects.filter(released_at__isnull=True)
    unopened = MeteringPoint.objects.filter(meter__gateway__site=seeded).exclude(
        pk__in=billed.values("metering_point")
    )
    assert unopened.count() == 242 - 222


def test_meter_side_sales_are_pushed_and_arrears_trip_unless_kept_powered(seeded):
    commands = Command.objects.filter(point__meter__gateway__site=seeded)
    pushes = commands.filter(kind=CommandKind.PUSH_CREDIT)
    meter_side_sales = sum(
        1
        for index in range(242)
        if (slot := slot_of(index)).fee_control == "meter-side" and slot.sale is not None
    )
    assert pushes.count() == meter_side_sales
    assert {c.purchase_count for c in pushes} == {1}
    assert {c.point.fee_control for c in pushes} == {FeeControl.METER_SIDE}
    trips = commands.filter(kind=CommandKind.TRIP)
    assert trips.exists()
    assert not trips.filter(point__account_links__account__keep_power=True).exists()
    kept = commands.filter(kind=CommandKind.KEEP_POWER_ON)
    assert kept.exists()
    assert {c.point.fee_control for c in kept} == {FeeControl.METER_SIDE}
    assert ledger_problems() == []


def test_every_slot_kind_appears(seeded):
    states = {slot.state for slot in SLOTS}
    assert {"normal", "alarm 1", "alarm 2", "arrears", "keep-power", "not opened"} <= states


def test_one_login_per_role_with_a_kept_password(seeded, tmp_path, monkeypatch):
    monkeypatch.delenv("PEMS_DEMO_PASSWORD", raising=False)
    path = tmp_path / "demo-logins.json"
    passwords = demo_passwords(path)

    logins = ensure_logins(seeded, passwords)

    assert [login.username for login in logins] == [role.value for role in Role]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = get_user_model().objects
    for login in logins:
        user = users.get(username=login.username)
        assert user.check_password(login.password)
        assert user.staff.role == login.role
    assert users.get(username="admin").is_superuser
    assert not users.get(username="cashier").is_superuser
    cashier = Staff.objects.get(user__username="cashier")
    assert not cashier.all_sites
    assert list(cashier.sites.all()) == [seeded]
    assert Staff.objects.get(user__username="manager").all_sites
    again = ensure_logins(seeded, demo_passwords(path))
    assert [(g.username, g.password) for g in again] == [(g.username, g.password) for g in logins]
    assert users.count() == len(Role)


def test_a_shared_demo_password_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("PEMS_DEMO_PASSWORD", "demo-Pass-123")

    passwords = demo_passwords(tmp_path / "demo-logins.json")

    assert set(passwords.values()) == {"demo-Pass-123"}
    assert not (tmp_path / "demo-logins.json").exists()
