"""Concurrent cashiers and settlements on one account end with the exact balance.

Real threads, each with its own database connection and committed
transactions (PostgreSQL row locks; SQLite IMMEDIATE transactions).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from pems.accounts import actions
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from tests.ledger.scenarios import cny, consume, open_tenant_account
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_concurrent_recharges_and_settlements_end_exact():
    account = open_tenant_account()
    actions.recharge(account, cny("1000.00"), "cash", "cashier", "float")
    jobs = []
    for n in range(25):
        jobs.append(lambda n=n: actions.recharge(account, cny(f"{n + 1}.11"), "cash", "c", f"r{n}"))
        jobs.append(lambda n=n: consume(account, f"{n + 1}.07", key=f"s{n}"))
    run_together(jobs)
    recharged = sum(Decimal(f"{n + 1}.11") for n in range(25))
    consumed = sum(Decimal(f"{n + 1}.07") for n in range(25))
    assert actions.balance(account) == cny(str(Decimal("1000.00") + recharged - consumed))
    assert JournalEntry.objects.filter(account=account).count() == 51
    assert ledger_problems() == []


def test_the_same_recharge_key_sent_ten_times_at_once_credits_once():
    account = open_tenant_account()
    results = run_together(
        [lambda: actions.recharge(account, cny("66.00"), "wechat", "c", "dup")] * 10
    )
    assert sum(r.created for r in results) == 1
    assert len({r.entry.pk for r in results}) == 1
    assert actions.balance(account) == cny("66.00")
