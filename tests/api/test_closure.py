"""Closing an account (销户) through the API: the console's action, within the caller's sites
and rights, refused cleanly, answered again on a retried key."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pems.accounts.actions import balance
from pems.accounts.models import Account
from pems.audit.models import AuditEvent
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from tests import factories
from tests.api.conftest import Tenancy, errors_of, tenancy, world
from tests.ledger.scenarios import consume


@pytest.fixture
def shop(db) -> Tenancy:
    """A server-side tenant holding 100.00."""
    return tenancy("North")


def url(account) -> str:
    return f"/api/accounts/{account.pk}/closure"


BODY = {"reason": "lease ended", "channel": "cash", "idempotency_key": "close-1"}


def test_a_manager_closes_and_the_balance_is_refunded(shop, as_user):
    manager = as_user(factories.staff_user("manager", shop.site))
    answer = manager.post(url(shop.account), BODY)
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    shop.account.refresh_from_db()
    assert shop.account.status == Account.Status.CLOSED
    closed_at = datetime.fromisoformat(body.pop("closed_at"))
    assert abs(closed_at - shop.account.closed_at) < timedelta(milliseconds=1)
    assert body == {
        "account": shop.account.pk,
        "status": "closed",
        "refunded": "100.00",
        "collected": "0.00",
        "currency": "CNY",
    }
    assert str(balance(shop.account).amount) == "0.00"
    assert chart.clearing(shop.site, "cash").balance == 0  # the sale in, the refund out
    assert not shop.account.links.filter(released_at__isnull=True).exists()
    event = AuditEvent.objects.get(action="account.close", object_id=str(shop.account.pk))
    assert (event.reason, event.changes["idempotency_key"]) == ("lease ended", "api:close-1")
    assert ledger_problems() == []


def test_the_same_key_again_answers_the_same_closing_and_writes_nothing(shop, as_user):
    manager = as_user(factories.staff_user("manager", shop.site))
    first = manager.post(url(shop.account), BODY)
    assert first.status_code == 201, first.json()
    before = world()
    again = manager.post(url(shop.account), BODY)
    assert (again.status_code, again.json()) == (200, first.json())
    assert world() == before


def test_a_closed_account_or_a_used_key_is_a_conflict(shop, as_user):
    other = tenancy("North-2")
    manager = as_user(factories.staff_user("manager", shop.site, other.site))
    assert manager.post(url(shop.account), BODY).status_code == 201
    before = world()
    elsewhere = manager.post(url(other.account), BODY)  # the key closed another account
    assert elsewhere.status_code == 409
    assert errors_of(elsewhere) == [
        ("idempotency_key", "This idempotency key was already used for a different request.")
    ]
    twice = manager.post(url(shop.account), {**BODY, "idempotency_key": "close-2"})
    assert twice.status_code == 409
    assert errors_of(twice) == [("account", f"Account {shop.account.pk} is closed.")]
    assert world() == before
    assert Account.objects.get(pk=other.account.pk).status == Account.Status.OPEN


def test_a_cashier_may_not_close_and_nothing_changes(shop, as_user):
    cashier = as_user(factories.staff_user("cashier", shop.site))
    before = world()
    assert cashier.post(url(shop.account), BODY).status_code == 403
    assert world() == before
    assert Account.objects.get(pk=shop.account.pk).status == Account.Status.OPEN


def test_another_sites_manager_finds_no_such_account(shop, as_user):
    south = tenancy("South")
    stranger = as_user(factories.staff_user("manager", south.site))
    before = world()
    answer = stranger.post(url(shop.account), BODY)
    assert answer.status_code == 404
    assert world() == before
    assert Account.objects.get(pk=shop.account.pk).status == Account.Status.OPEN


def test_credit_still_on_a_meter_side_meter_is_refused_with_the_consoles_message(db, as_user):
    east = tenancy("East", fee_control="meter-side")  # the sale went to the meter
    manager = as_user(factories.staff_user("manager", east.site))
    before = world()
    answer = manager.post(url(east.account), BODY)
    assert answer.status_code == 409
    ((field, message),) = errors_of(answer)
    assert field == "account"
    assert message.startswith("Credit is still on the meter (")
    assert message.endswith("use “Recall meter credit” first, so the refund includes it.")
    assert world() == before
    assert Account.objects.get(pk=east.account.pk).status == Account.Status.OPEN


def test_an_account_in_arrears_is_closed_by_collecting_what_is_due(db, as_user):
    west = tenancy("West", credit="10.00")
    consume(west.account, "40.00")  # 30.00 owed
    manager = as_user(factories.staff_user("manager", west.site))
    body = {**BODY, "channel": "wechat"}
    answer = manager.post(url(west.account), body)
    assert answer.status_code == 201, answer.json()
    assert (answer.json()["refunded"], answer.json()["collected"]) == ("0.00", "30.00")
    closing = JournalEntry.objects.get(kind=JournalEntry.Kind.CLOSING, account_id=west.account.pk)
    assert closing.memo["channel"] == "wechat"
    assert str(balance(west.account).amount) == "0.00"
    assert ledger_problems() == []
    again = manager.post(url(west.account), body)  # the replay reads the collection back
    assert (again.status_code, again.json()) == (200, answer.json())
    other_channel = manager.post(url(west.account), {**BODY, "channel": "cash"})
    assert other_channel.status_code == 409
