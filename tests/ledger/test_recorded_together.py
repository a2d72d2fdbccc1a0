"""Audit events held for one INSERT at the end of an action: still in its transaction,
never written for a change that was undone, never lost for one that was kept."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pems.accounts import actions
from pems.audit.log import record, recorded_together
from pems.audit.models import AuditEvent
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.posting import InsufficientBalance, post
from tests.ledger.scenarios import cny, open_tenant_account

pytestmark = pytest.mark.django_db

AUDIT_INSERT = 'INSERT INTO "audit_auditevent"'


def test_events_recorded_inside_are_written_in_order_by_one_insert_on_exit():
    account = open_tenant_account()
    with (
        transaction.atomic(),
        CaptureQueriesContext(connection) as queries,
        recorded_together(),
    ):
        for n in range(3):
            record("cashier", f"test.step{n}", account, {"n": n}, "why")
        assert not AuditEvent.objects.filter(action__startswith="test.").exists()
        inside = len(queries.captured_queries)
    on_exit = [q["sql"] for q in queries.captured_queries[inside:]]
    assert len(on_exit) == 1
    assert on_exit[0].startswith(AUDIT_INSERT)
    events = AuditEvent.objects.filter(action__startswith="test.").order_by("pk")
    assert [(e.action, e.changes, e.reason, e.object_id) for e in events] == [
        (f"test.step{n}", {"n": n}, "why", str(account.pk)) for n in range(3)
    ]


def test_an_event_inside_a_savepoint_rolls_back_with_it():
    """A refund refused by its floor is undone by its savepoint, and so is its event."""
    account = open_tenant_account()
    actions.recharge(account, cny("5.00"), "cash", "cashier", "r")
    wallet, clearing = chart.wallet(account), chart.clearing(account.tenant.site, "cash")
    before = AuditEvent.objects.count()
    with transaction.atomic(), recorded_together():
        with pytest.raises(InsufficientBalance):
            post(
                site_id=account.tenant.site_id,
                kind=JournalEntry.Kind.REFUND,
                lines=[(wallet, cny("-9.00")), (clearing, cny("9.00"))],
                actor="cashier",
                reason="too much",
                idempotency_key="refused",
                floors={wallet.key: Decimal(0)},
            )
        record("cashier", "test.kept", account, {}, "after the refusal")
    assert list(AuditEvent.objects.order_by("pk").values_list("action", flat=True)[before:]) == [
        "test.kept"
    ]


def test_nothing_is_written_when_the_action_fails_and_the_next_use_starts_clean():
    account = open_tenant_account()
    before = AuditEvent.objects.count()

    def action_that_fails():
        with transaction.atomic(), recorded_together():
            record("cashier", "test.lost", account, {}, "")
            raise RuntimeError("till jammed")

    with pytest.raises(RuntimeError, match="till jammed"):
        action_that_fails()
    assert AuditEvent.objects.count() == before
    with transaction.atomic(), recorded_together():
        record("cashier", "test.next", account, {}, "")
    events = AuditEvent.objects.order_by("pk").values_list("action", flat=True)
    assert list(events[before:]) == ["test.next"]


@pytest.mark.django_db(transaction=True)
def test_recorded_together_needs_the_actions_transaction():
    account = open_tenant_account()
    with pytest.raises(RuntimeError, match="needs the action's transaction"), recorded_together():
        pass
    record("cashier", "test.alone", account, {}, "")  # outside, an event is written at once
    assert AuditEvent.objects.filter(action="test.alone").exists()


def test_an_entrys_event_held_inside_is_written_on_exit_naming_the_entry():
    """On PostgreSQL a posting writes its own event in its statement, unless held: then it
    joins the others, named by the id the statement gave the entry."""
    account = open_tenant_account()
    actions.recharge(account, cny("5.00"), "cash", "cashier", "opens the accounts")
    with transaction.atomic(), recorded_together():
        posted = post(
            site_id=account.tenant.site_id,
            kind=JournalEntry.Kind.RECHARGE,
            lines=[(chart.clearing_ref(account.tenant.site, "cash"), cny("-3.00")),
                   (chart.wallet_ref(account), cny("3.00"))],
            actor="cashier",
            reason="held",
            idempotency_key="held-entry",
        )  # fmt: skip
        assert not AuditEvent.objects.filter(reason="held").exists()
    (event,) = AuditEvent.objects.filter(reason="held")
    assert (event.object_id, event.object_repr) == (str(posted.entry.pk), str(posted.entry))
    assert posted.balances[f"wallet:{account.pk}"] == Decimal("8.00")
