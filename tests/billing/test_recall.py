"""Recalling a meter-side meter's credit: refused cleanly, queued once, booked once on
confirmation (spending as revenue, the rest to the wallet, excess as drift), then closed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from pems.accounts import actions as ledger_actions
from pems.accounts.actions import balance
from pems.audit.models import AuditEvent
from pems.billing import actions, recall
from pems.collector.commands import finish, hold_credit_before_clear, mark_sent
from pems.control import actions as control
from pems.control.models import CREDIT_BEFORE_CLEAR, Command, CommandKind, CommandStatus
from pems.ledger import chart
from pems.ledger.models import JournalEntry, Posting
from pems.ledger.verify import ledger_problems
from tests.billing.scenarios import relay_reading, server_side_tenant
from tests.ledger.scenarios import cny

# The collector's own database calls (finish, mark_sent …) run as in its threads: committed.
pytestmark = pytest.mark.django_db(transaction=True)


def meter_holding(amount: str = "100.00"):
    """A meter-side tenant whose meter has confirmed a sale of ``amount``."""
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    _, push = actions.sell(account, cny(amount), "cash", "cashier", "s1")
    Command.objects.filter(pk=push.pk).update(status="confirmed", completed_at=timezone.now())
    return account, point


def the_meter_clears(command: Command, held: str, answer_credit: str = "0.00") -> None:
    """What the collector does: trip confirmed, credit read and stored, clear sent, confirmed."""
    Command.objects.filter(point=command.point, kind=CommandKind.TRIP).update(
        status="confirmed", completed_at=timezone.now()
    )
    assert mark_sent(command.pk)
    hold_credit_before_clear(command.pk, Decimal(held))
    read_back = {"note": "confirmed by read-back", "purchase_count": "1"}
    finish(
        command.pk,
        CommandStatus.CONFIRMED,
        {**read_back, "relay_closed": "False", "remaining_credit": answer_credit},
    )
    command.refresh_from_db()


def world() -> dict:
    """Everything a refused recall must leave as it was."""
    return {
        "commands": sorted(Command.objects.values_list("pk", "status")),
        "entries": JournalEntry.objects.count(),
        "postings": Posting.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def entries_balance() -> None:
    assert ledger_problems() == []
    for entry in JournalEntry.objects.all():
        assert entry.postings.aggregate(total=Sum("amount"))["total"] == 0, entry


def test_a_recall_trips_then_clears_once_per_key_and_is_audited():
    account, point = meter_holding()
    first = recall.recall_meter_credit(account, point, "cashier", "moving out", "k1")
    again = recall.recall_meter_credit(account, point, "cashier", "moving out", "k1")
    assert again.pk == first.pk
    kinds = list(
        Command.objects.filter(point=point).order_by("pk").values_list("kind", "by_policy")
    )
    assert kinds == [("push_credit", False), ("trip", False), ("clear_credit", False)]
    assert first.payload == {"account": account.pk}
    event = AuditEvent.objects.get(action="account.recall_meter_credit")
    assert (event.actor_label, event.reason, event.changes["on_meter"]) == (
        "cashier",
        "moving out",
        "100.00",
    )
    with pytest.raises(recall.RecallRefused, match="already being recalled"):
        recall.recall_meter_credit(account, point, "cashier", "moving out", "k2")


def test_no_second_trip_when_a_persons_trip_already_holds_the_relay_open():
    account, point = meter_holding()
    trip = control.enqueue(point, CommandKind.TRIP, actor="electrician")
    Command.objects.filter(pk=trip.pk).update(status="confirmed", completed_at=timezone.now())
    relay_reading(point, False, timezone.now() - dt.timedelta(seconds=1), credit="100.00")
    recall.recall_meter_credit(account, point, "cashier", "moving out")
    assert Command.objects.filter(point=point, kind=CommandKind.TRIP).count() == 1
    assert Command.objects.filter(point=point, kind=CommandKind.CLEAR_CREDIT).count() == 1


def _closed(account, point):
    other, point = server_side_tenant("1.00", fee_control="meter-side")
    ledger_actions.close_account(other, "manager", "gone")
    return other, point, "is closed"


def _server_side(account, point):
    other, point = server_side_tenant("1.00")
    return other, point, "is not meter-side"


def _someone_elses(account, point):
    _other, elsewhere = server_side_tenant(
        "1.00", fee_control="meter-side", site=account.tenant.site
    )
    return account, elsewhere, "does not pay for"


def _push_in_flight(account, point):
    actions.sell(account, cny("10.00"), "cash", "cashier", "s2")
    return account, point, "still on its way"


def _pending(account, point):
    recall.recall_meter_credit(account, point, "cashier", "first")
    return account, point, "already being recalled"


@pytest.mark.parametrize(
    "situation", [_closed, _server_side, _someone_elses, _push_in_flight, _pending]
)
def test_a_refused_recall_says_why_and_changes_nothing(situation):
    account, point = meter_holding()
    account, point, why = situation(account, point)
    before = world()
    with pytest.raises((ledger_actions.AccountActionError, recall.RecallRefused), match=why):
        recall.recall_meter_credit(account, point, "cashier", "moving out", "k1")
    assert world() == before


def test_the_confirmed_clear_books_spending_returns_the_rest_and_close_refunds_it():
    account, point = meter_holding("100.00")
    command = recall.recall_meter_credit(account, point, "cashier", "moving out")
    with pytest.raises(ledger_actions.AccountActionError, match="Recall meter credit"):
        ledger_actions.close_account(account, "manager", "moving out")

    the_meter_clears(command, held="63.27")

    assert command.status == CommandStatus.CONFIRMED
    assert command.answer[CREDIT_BEFORE_CLEAR] == "63.27"
    assert (command.answer["credit_returned"], command.answer["usage_booked"]) == (
        "63.27",
        "36.73",
    )
    site = account.tenant.site
    assert chart.revenue(site, "electricity").balance == Decimal("36.73")
    assert chart.meter_credit(account, point).balance == Decimal("0.00")
    assert balance(account) == cny("63.27")
    returned = JournalEntry.objects.get(idempotency_key=f"meter-clear:{command.command_id}")
    assert returned.kind == JournalEntry.Kind.METER_RETURN
    state = recall.latest_recall(point, account)
    assert (state.state, state.held, state.returned, state.drift) == (
        "confirmed",
        Decimal("63.27"),
        Decimal("63.27"),
        Decimal("0"),
    )
    closing = ledger_actions.close_account(account, "manager", "moving out")
    assert closing.refunded == cny("63.27")
    assert chart.clearing(site, "cash").balance == Decimal("-36.73")  # what the tenant used
    entries_balance()


def test_a_replayed_confirmation_posts_once():
    account, point = meter_holding("100.00")
    command = recall.recall_meter_credit(account, point, "cashier", "moving out")
    the_meter_clears(command, held="40.00")
    posted = JournalEntry.objects.count()

    finish(command.pk, CommandStatus.CONFIRMED, {"remaining_credit": "0.00"})  # the collector again
    locked = recall.lock_recalling(command)
    assert recall.credit_cleared(locked, command, Decimal("40.00")) == {}  # billing again

    assert JournalEntry.objects.count() == posted
    assert balance(account) == cny("40.00")
    assert chart.revenue(account.tenant.site, "electricity").balance == Decimal("60.00")
    entries_balance()


def test_a_meter_holding_more_than_pems_sent_returns_only_that_and_flags_drift():
    account, point = meter_holding("100.00")
    command = recall.recall_meter_credit(account, point, "cashier", "moving out")
    the_meter_clears(command, held="115.00")
    assert (command.answer["credit_returned"], command.answer["drift"]) == ("100.00", "15.00")
    assert command.answer["usage_booked"] == "0.00"
    assert balance(account) == cny("100.00")
    assert chart.revenue(account.tenant.site, "electricity").balance == Decimal("0.00")
    assert recall.latest_recall(point, account).drift == Decimal("15.00")
    entry = JournalEntry.objects.get(idempotency_key=f"meter-clear:{command.command_id}")
    assert entry.memo["drift"] == "15.00"
    entries_balance()


def test_a_meter_in_overdraft_leaves_a_debt_that_closing_collects():
    account, point = meter_holding("100.00")
    command = recall.recall_meter_credit(account, point, "cashier", "moving out")
    the_meter_clears(command, held="-5.00")
    assert balance(account) == cny("-5.00")
    assert chart.revenue(account.tenant.site, "electricity").balance == Decimal("105.00")
    closing = ledger_actions.close_account(account, "manager", "moving out")
    assert closing.collected == cny("5.00")
    entries_balance()


def test_a_clear_that_billing_refuses_stays_open_and_books_later(monkeypatch):
    account, point = meter_holding("100.00")
    command = recall.recall_meter_credit(account, point, "cashier", "moving out")

    def refuse(*args, **kwargs):
        raise recall.RecallRefused("the ledger is being audited")

    monkeypatch.setattr(recall, "credit_cleared", refuse)
    the_meter_clears(command, held="70.00")
    assert command.status == CommandStatus.SENT
    assert "not yet returned: the ledger is being audited" in command.failure_reason
    assert command.not_before is not None
    assert command.answer[CREDIT_BEFORE_CLEAR] == "70.00"  # kept for the next read-back
    assert balance(account) == cny("0.00")
    assert recall.latest_recall(point, account).state == "pending"

    monkeypatch.undo()
    finish(command.pk, CommandStatus.CONFIRMED, {"remaining_credit": "0.00"})
    command.refresh_from_db()
    assert command.status == CommandStatus.CONFIRMED
    assert balance(account) == cny("70.00")
    entries_balance()


def test_a_failed_recall_shows_why_and_may_be_asked_again():
    account, point = meter_holding("100.00")
    command = recall.recall_meter_credit(account, point, "cashier", "moving out")
    assert mark_sent(command.pk)
    finish(command.pk, CommandStatus.FAILED, {}, "terminal", "relay not open")
    state = recall.latest_recall(point, account)
    assert (state.state, state.reason, state.returned) == ("failed", "relay not open", None)
    assert balance(account) == cny("0.00")
    again = recall.recall_meter_credit(account, point, "cashier", "second try")
    assert again.pk != command.pk


def test_a_clear_names_its_account_and_the_database_allows_one_open_clear_per_point():
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    account, point = meter_holding()
    for bad in ({}, {"account": str(account.pk)}, {"account": True}, {"account": 0}):
        with pytest.raises(ValidationError) as error:
            control.enqueue(point, CommandKind.CLEAR_CREDIT, bad)
        assert "payload" in error.value.message_dict
    first = recall.recall_meter_credit(account, point, "cashier", "moving out")
    with pytest.raises(IntegrityError), transaction.atomic():  # a racing second recall
        Command.objects.create(
            point=point, meter=point.meter, kind=CommandKind.CLEAR_CREDIT, payload=first.payload
        )
    Command.objects.filter(pk=first.pk).update(status="failed")
    control.enqueue(point, CommandKind.CLEAR_CREDIT, first.payload)  # a failed one frees it
