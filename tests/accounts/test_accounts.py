"""Tenants and accounts: phone numbers, thresholds, one open account per metering point."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from pems.accounts.actions import AccountClosed, close_account
from pems.accounts.models import Account, AccountMeteringPoint
from pems.audit.models import AuditEvent
from tests.factories import (
    AccountFactory,
    AccountMeteringPointFactory,
    MeteringPointFactory,
    RoomFactory,
    SiteFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db


def errors_of(obj) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as excinfo:
        obj.full_clean()
    return excinfo.value.message_dict


@pytest.mark.parametrize("mobile", ["1380013800", "23800138000", "12800138000", "phone", "+0123"])
def test_malformed_mobile_numbers_are_refused(mobile):
    assert (
        "not a mobile number"
        in errors_of(TenantFactory.build(site=SiteFactory(), mobile=mobile))["mobile"][0]
    )


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("+44 7700 900123", "+447700900123"),
    ],
)
def test_mobile_numbers_are_accepted_and_normalised(typed, stored):
    tenant = TenantFactory.build(site=SiteFactory(), mobile=typed)
    tenant.full_clean()
    assert tenant.mobile == stored


def test_a_tenant_room_belongs_to_the_tenant_site():
    tenant = TenantFactory.build(site=SiteFactory(), room=RoomFactory())
    assert "tenant's site" in errors_of(tenant)["room"][0]


def test_account_thresholds_fall_back_to_site_defaults():
    account = AccountFactory(alarm2_threshold=Decimal("5.00"))
    site = account.tenant.site
    assert account.effective_thresholds() == {
        "alarm1": site.default_alarm1_threshold,
        "alarm2": Decimal("5.00"),
        "overdraft": site.default_overdraft_limit,
        "reconnect": site.default_reconnect_minimum,
    }


def test_alarm1_at_or_below_alarm2_is_refused_even_against_site_defaults():
    # Site default alarm 1 is 50.00: an account alarm 2 of 60.00 would invert the levels.
    account = AccountFactory.build(tenant=TenantFactory(), alarm2_threshold=Decimal("60.00"))
    assert "must be above alarm 2" in errors_of(account)["alarm2_threshold"][0]
    own = AccountFactory.build(
        tenant=TenantFactory(), alarm1_threshold=Decimal("10"), alarm2_threshold=Decimal("10")
    )
    assert "must be above alarm 2" in errors_of(own)["alarm1_threshold"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        own.save()


def test_negative_thresholds_are_refused():
    account = AccountFactory.build(tenant=TenantFactory(), overdraft_limit=Decimal("-1"))
    assert "overdraft_limit" in errors_of(account)


def test_a_closed_status_without_closing_time_is_refused_by_the_database():
    account = AccountFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(status="closed")


def metering_point_in_open_account():
    link = AccountMeteringPointFactory()
    return link.account, link.metering_point


def test_a_metering_point_belongs_to_at_most_one_open_account():
    account, point = metering_point_in_open_account()
    rival = AccountFactory(tenant=TenantFactory(site=account.tenant.site))
    link = AccountMeteringPoint(account=rival, metering_point=point)
    assert "already belongs to an open account" in errors_of(link)["metering_point"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        link.save()


def test_closing_an_account_releases_its_points_for_the_next_tenant():
    account, point = metering_point_in_open_account()
    closed = close_account(account, actor=None, reason="tenant moved out").account
    assert closed.status == "closed"
    assert closed.closed_at is not None
    successor = AccountFactory(tenant=TenantFactory(site=account.tenant.site))
    link = AccountMeteringPoint(account=successor, metering_point=point)
    link.full_clean()
    link.save()
    assert list(point.accounts.filter(links__released_at__isnull=True)) == [successor]


def test_closing_is_audited_with_the_reason_and_cannot_happen_twice():
    account, point = metering_point_in_open_account()
    close_account(account, actor="cashier-7", reason="tenant moved out")
    event = AuditEvent.objects.get(action="account.close")
    assert event.actor_label == "cashier-7"
    assert event.reason == "tenant moved out"
    assert event.changes["released_metering_points"] == [point.pk]
    with pytest.raises(AccountClosed):
        close_account(account, actor="cashier-7", reason="again")
    assert AuditEvent.objects.filter(action="account.close").count() == 1


def test_a_closed_account_cannot_take_metering_points():
    account, _ = metering_point_in_open_account()
    close_account(account, actor=None, reason="done")
    account.refresh_from_db()
    link = AccountMeteringPoint(
        account=account,
        metering_point=MeteringPointFactory(meter__gateway__site=account.tenant.site),
    )
    assert "closed account" in errors_of(link)["account"][0]


def test_a_metering_point_of_another_site_is_refused():
    account = AccountFactory()
    link = AccountMeteringPoint(account=account, metering_point=MeteringPointFactory())
    assert "another site" in errors_of(link)["metering_point"][0]


def test_release_before_attach_is_refused_by_the_database():
    link = AccountMeteringPointFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        AccountMeteringPoint.objects.filter(pk=link.pk).update(
            released_at=link.attached_at - timezone.timedelta(days=1)
        )
