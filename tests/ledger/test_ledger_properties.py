"""Property tests: any sequence of account actions keeps the ledger sound.

A plain-Python model of each wallet runs beside the database; after every
random sequence (on SQLite and PostgreSQL alike) every entry balances, every
cached balance equals its postings, and each wallet equals the model —
credits minus debits, to the cent.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pems.accounts import actions
from pems.ledger.posting import InsufficientBalance
from pems.ledger.verify import ledger_problems
from tests.factories import SiteFactory
from tests.ledger.scenarios import cny, consume, open_tenant_account

cents = st.integers(min_value=1, max_value=500_000).map(lambda c: Decimal(c).scaleb(-2))
operation = st.tuples(
    st.sampled_from(["recharge", "refund", "reverse", "consume", "close", "open"]),
    st.integers(min_value=0, max_value=3),  # which account
    cents,
    st.sampled_from(["0", "0.01", "0.035"]),  # service-fee ratio
)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_random_account_histories_keep_the_ledger_exact(operations):
    site = SiteFactory()
    accounts = [open_tenant_account(site), open_tenant_account(site)]
    model = {a.pk: Decimal(0) for a in accounts}  # expected wallet balances
    recharges: dict[int, list] = {a.pk: [] for a in accounts}  # reversible entries per account
    closed: set[int] = set()
    # Examples share one test transaction: keys carry the example's own site id.
    for step, (op, which, amount, fee) in enumerate(operations):
        account = accounts[which % len(accounts)]
        if op == "open":
            account = open_tenant_account(site)
            accounts.append(account)
            model[account.pk], recharges[account.pk] = Decimal(0), []
            continue
        if account.pk in closed:
            with pytest.raises(actions.AccountClosed):
                actions.recharge(account, cny(str(amount)), "cash", "t", f"{site.pk}-late-{step}")
            continue
        if op == "recharge":
            result = actions.recharge(
                account,
                cny(str(amount)),
                "cash",
                "t",
                f"{site.pk}-k-{step}",
                fee_ratio=Decimal(fee),
            )
            model[account.pk] += result.credited.amount
            recharges[account.pk].append((result.entry, result.credited.amount))
        elif op == "refund" and amount > model[account.pk]:
            with pytest.raises(InsufficientBalance):
                actions.refund(account, cny(str(amount)), "cash", "t", "r", f"{site.pk}-f-{step}")
        elif op == "refund":
            actions.refund(account, cny(str(amount)), "cash", "t", "r", f"{site.pk}-f-{step}")
            model[account.pk] -= amount
        elif op == "consume":
            consume(account, str(amount))  # server-side settlement may overdraw
            model[account.pk] -= amount
        elif op == "reverse" and recharges[account.pk]:
            entry, credited = recharges[account.pk].pop()
            if credited > model[account.pk]:
                with pytest.raises(InsufficientBalance):
                    actions.reverse(entry, "t", "wrong")
            else:
                actions.reverse(entry, "t", "wrong")
                model[account.pk] -= credited
        elif op == "close":
            actions.close_account(account, "t", "moved out")
            model[account.pk] = Decimal(0)
            closed.add(account.pk)
    assert ledger_problems() == []
    for account in accounts:
        assert actions.balance(account).amount == model[account.pk], account.pk
