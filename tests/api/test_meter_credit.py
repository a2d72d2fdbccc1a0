"""A meter-side meter's credit through the API: as last reconciled, and credit found on it
taken over once, within the drift PEMS found, the caller's sites and rights."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from pems.audit.models import AuditEvent
from pems.billing import mirror
from pems.control.models import Command, CommandKind
from pems.ledger.models import JournalEntry
from pems.metering.models import PointState
from tests import factories
from tests.api.conftest import Tenancy, errors_of, tenancy, world


@pytest.fixture
def shop(db) -> Tenancy:
    """A meter-side tenant: PEMS sent 100.00, and the meter now reports 130.00 (30.00 drift)."""
    found = tenancy("East", fee_control="meter-side")
    Command.objects.filter(kind=CommandKind.PUSH_CREDIT).update(status="confirmed")
    PointState.objects.update_or_create(
        point=found.point,
        defaults={"read_at": timezone.now(), "remaining_credit": Decimal("130.00")},
    )
    return found


def url(account, what: str) -> str:
    return f"/api/accounts/{account.pk}/meter-credit{what}"


BODY = {"amount": "30.00", "currency": "CNY", "reason": "old system", "idempotency_key": "t1"}


def test_a_manager_reads_the_drift_and_takes_it_over_once(shop, as_user):
    manager = as_user(factories.staff_user("manager", shop.site))
    assert manager.get(url(shop.account, "")).status_code == 404  # not reconciled yet
    mirror.reconcile_due()
    seen = manager.get(url(shop.account, "")).json()
    assert (seen["point"], seen["reported"], seen["expected"], seen["drift"], seen["on_meter"]) == (
        shop.point.pk,
        "130.00",
        "100.00",
        "30.00",
        "100.00",
    )

    taken = manager.post(url(shop.account, "-takeover"), BODY)
    assert taken.status_code == 201, taken.json()
    assert (taken.json()["amount"], taken.json()["on_meter"]) == ("30.00", "130.00")
    replay = manager.post(url(shop.account, "-takeover"), BODY)
    assert (replay.status_code, replay.json()["entry"]) == (200, taken.json()["entry"])
    entry = JournalEntry.objects.get(kind="meter-takeover")
    assert AuditEvent.objects.filter(action="ledger.meter-takeover", reason="old system").exists()
    assert entry.pk == taken.json()["entry"]
    after = manager.get(url(shop.account, "")).json()
    assert (after["drift"], after["on_meter"]) == ("0.00", "130.00")


def test_more_than_the_drift_is_refused_and_nothing_changes(shop, as_user):
    mirror.reconcile_due()
    manager = as_user(factories.staff_user("manager", shop.site))
    before = world()
    refused = manager.post(url(shop.account, "-takeover"), {**BODY, "amount": "30.01"})
    assert refused.status_code == 409
    ((field, message),) = errors_of(refused)
    assert field == "amount"
    assert "holds only 30.00 more than PEMS sent" in message
    wrong = manager.post(url(shop.account, "-takeover"), {**BODY, "currency": "USD"})
    assert (wrong.status_code, errors_of(wrong)[0][0]) == (422, "currency")
    assert world() == before


def test_a_key_used_for_another_amount_is_a_conflict(shop, as_user):
    mirror.reconcile_due()
    manager = as_user(factories.staff_user("manager", shop.site))
    assert (
        manager.post(url(shop.account, "-takeover"), {**BODY, "amount": "10.00"}).status_code == 201
    )
    before = world()
    clash = manager.post(url(shop.account, "-takeover"), {**BODY, "amount": "20.00"})
    assert (clash.status_code, errors_of(clash)[0][0]) == (409, "idempotency_key")
    assert world() == before


def test_only_managers_of_the_site_take_credit_over(shop, as_user):
    mirror.reconcile_due()
    stranger = as_user(factories.staff_user("manager", tenancy("West").site))
    cashier = as_user(factories.staff_user("cashier", shop.site))
    before = world()
    assert cashier.post(url(shop.account, "-takeover"), BODY).status_code == 403
    assert cashier.get(url(shop.account, "")).status_code == 200  # reading is everyone's
    assert stranger.post(url(shop.account, "-takeover"), BODY).status_code == 404
    assert stranger.get(url(shop.account, "")).status_code == 404
    assert world() == before


def test_an_account_shows_the_credit_on_its_meter_beside_its_balance(shop, as_user):
    north = tenancy("North")  # server-side: everything in the wallet
    reader = as_user(factories.staff_user("readonly", shop.site, north.site))
    one = reader.get(f"/api/accounts/{shop.account.pk}").json()
    assert (one["balance"], one["on_meter"]) == ("0.00", "100.00")
    listed = {a["id"]: a for a in reader.get("/api/accounts").json()["items"]}
    assert (listed[north.account.pk]["balance"], listed[north.account.pk]["on_meter"]) == (
        "100.00",
        "0.00",
    )
    PointState.objects.filter(point=shop.point).update(remaining_credit=Decimal("61.50"))
    mirror.reconcile_due()  # 38.50 used on the meter
    assert reader.get(f"/api/accounts/{shop.account.pk}").json()["on_meter"] == "61.50"
