"""A credit push that fails for good gives its credit back to the wallet, never to revenue.

The collector fails a push only once the meter refused it or read-back showed
it did not land: the credit never reached the meter, so reconciling the
meter's remaining credit must not book it as usage.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from pems.accounts import actions as ledger_actions
from pems.accounts.actions import balance
from pems.billing import actions, credit, mirror
from pems.collector.commands import finish
from pems.control.models import Command, CommandStatus, FailureKind
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from tests.billing.scenarios import (
    T0,
    confirmed_sales,
    relay_reading,
    server_side_tenant,
    swap_meter_side,
)
from tests.factories import TenantFactory
from tests.ledger.scenarios import cny

# finish() runs as in the collector's command thread (it checks its connection): real commits.
pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = {"purchase_count": "1", "note": "meter refused: count error"}


def fail(push: Command) -> None:
    finish(push.pk, CommandStatus.FAILED, REFUSED, FailureKind.TERMINAL, "count error")


def test_a_failed_sale_push_returns_its_credit_and_reconciling_books_no_usage():
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    _, first = actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    Command.objects.filter(pk=first.pk).update(status="confirmed", completed_at=T0)
    _, second = actions.sell(account, cny("50.00"), "cash", "cashier", "s2")

    fail(second)
    fail(second)  # the collector may report it again: returned once

    assert Command.objects.get(pk=second.pk).status == CommandStatus.FAILED
    assert balance(account) == cny("50.00")  # back in the wallet
    assert chart.meter_credit(account, point).balance == Decimal("100.00")
    returned = JournalEntry.objects.filter(memo__failed_push=second.pk)
    assert [(e.kind, e.actor_label) for e in returned] == [("meter-transfer", "collector")]
    # The meter spent nothing and holds the first sale's 100: nothing to book.
    relay_reading(point, True, timezone.now(), credit="100.00")
    assert mirror.reconcile_point(account, point).usage_booked == Decimal("0")
    assert chart.revenue(account.tenant.site, "electricity").balance == Decimal("0.00")
    assert ledger_problems() == []


def test_a_sale_whose_push_failed_can_still_be_reversed():
    account, _point = server_side_tenant("1.00", fee_control="meter-side")
    sale, push = actions.sell(account, cny("50.00"), "cash", "cashier", "s1")
    fail(push)
    actions.reverse_sale(sale.entry, "supervisor", "the meter refused it")
    assert balance(account) == cny("0.00")
    assert chart.clearing(account.tenant.site, "cash").balance == Decimal("0.00")
    assert ledger_problems() == []


def test_a_failed_exchange_push_returns_the_carried_credit():
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    confirmed_sales(account, 1, "100.00")
    relay_reading(point, True, T0, credit="80.00")
    done = swap_meter_side(point, "555000000006", remaining="64.30")
    fail(done.push)
    assert balance(account) == cny("64.30")
    assert chart.meter_credit(account, point).balance == Decimal("0.00")
    assert ledger_problems() == []


def test_a_failed_exchange_push_returns_the_credit_to_the_account_it_carried_it_for():
    """The push names its account: a later payer of the point does not get the credit."""
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    confirmed_sales(account, 1, "100.00")
    done = swap_meter_side(point, "555000000007", remaining="64.30")
    assert done.push.payload == {"amount": "64.30", "account": account.pk}
    account.links.update(released_at=timezone.now())  # as if the room had changed hands
    newcomer = ledger_actions.open_account(
        TenantFactory(site=account.tenant.site), [point], actor="test"
    )
    fail(done.push)
    assert balance(account) == cny("64.30")
    assert balance(newcomer) == cny("0.00")
    assert ledger_problems() == []


def test_a_failed_push_whose_credit_cannot_be_returned_stays_open_and_is_tried_again(
    monkeypatch,
):
    from pems.ledger.posting import LedgerError

    account, _point = server_side_tenant("1.00", fee_control="meter-side")
    _, push = actions.sell(account, cny("50.00"), "cash", "cashier", "s1")
    Command.objects.filter(pk=push.pk).update(status="sent")

    def refuse(*_args, **_kwargs):
        raise LedgerError("the ledger is being audited")

    monkeypatch.setattr(credit, "return_failed_push", refuse)
    fail(push)
    stuck = Command.objects.get(pk=push.pk)
    assert stuck.status == CommandStatus.SENT  # read back again later, not lost as failed
    assert "credit not yet returned" in stuck.failure_reason
    assert stuck.not_before is not None
    assert balance(account) == cny("0.00")  # nothing moved half-way
