"""The ledger keeps money exact: balanced entries, idempotent recharges, reversals once,
refunds never beyond the balance, append-only rows — on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from pems.accounts import actions
from pems.audit.models import AuditEvent
from pems.domain.ledger import UnbalancedEntryError
from pems.ledger import chart
from pems.ledger.models import JournalEntry, LedgerAccount, Posting
from pems.ledger.posting import IdempotencyConflict, InsufficientBalance, post
from pems.ledger.verify import ledger_problems
from tests.ledger.scenarios import cny, consume, open_tenant_account, tenant_in_arrears

pytestmark = pytest.mark.django_db


def test_a_recharge_credits_the_wallet_and_debits_the_channel():
    account = open_tenant_account()
    result = actions.recharge(account, cny("100.00"), "cash", "cashier", "r-1")
    assert result.created
    assert actions.balance(account) == cny("100.00")
    site = account.tenant.site
    assert chart.clearing(site, "cash").balance == Decimal("-100.00")
    assert sorted(result.entry.postings.values_list("amount", flat=True)) == [
        Decimal("-100.00"),
        Decimal("100.00"),
    ]
    assert ledger_problems() == []


def test_a_service_fee_is_taken_from_the_top_up():
    # 2 % of 88.88 = 1.7776 → 1.78 (half-up); the tenant is credited 88.88 − 1.78 = 87.10.
    account = open_tenant_account()
    result = actions.recharge(
        account, cny("88.88"), "wechat", "kiosk", "r-1", fee_ratio=Decimal("0.02")
    )
    assert (result.credited, result.fee) == (cny("87.10"), cny("1.78"))
    assert actions.balance(account) == cny("87.10")
    assert chart.service_fees(account.tenant.site).balance == Decimal("1.78")
    assert ledger_problems() == []


def test_the_same_recharge_key_ten_times_credits_once():
    account = open_tenant_account()
    results = [
        actions.recharge(account, cny("50.00"), "cash", "cashier", "same") for _ in range(10)
    ]
    assert [r.created for r in results] == [True] + [False] * 9
    assert {r.entry.pk for r in results} == {results[0].entry.pk}
    assert actions.balance(account) == cny("50.00")


def test_a_reused_key_with_another_amount_is_refused_and_changes_nothing():
    account = open_tenant_account()
    actions.recharge(account, cny("50.00"), "cash", "cashier", "k")
    with pytest.raises(IdempotencyConflict):
        actions.recharge(account, cny("60.00"), "cash", "cashier", "k")
    assert actions.balance(account) == cny("50.00")
    assert JournalEntry.objects.filter(kind="recharge").count() == 1


@pytest.mark.parametrize("amount", ["0.00", "-5.00"])
def test_non_positive_recharges_are_refused(amount):
    account = open_tenant_account()
    with pytest.raises(actions.AccountActionError, match="positive"):
        actions.recharge(account, cny(amount), "cash", "cashier", "k")
    assert not JournalEntry.objects.filter(kind="recharge").exists()


def test_a_recharge_in_another_currency_is_refused():
    account = open_tenant_account()
    with pytest.raises(actions.AccountActionError, match="site's currency CNY"):
        actions.recharge(account, actions.Money(Decimal("5.00"), "USD"), "cash", "cashier", "k")


def test_an_unknown_channel_is_refused():
    account = open_tenant_account()
    with pytest.raises(ValueError, match="bitcoin"):
        actions.recharge(account, cny("5.00"), "bitcoin", "cashier", "k")
    assert actions.balance(account) == cny("0.00")


def test_a_refund_never_exceeds_the_balance():
    account = open_tenant_account()
    actions.recharge(account, cny("40.00"), "cash", "cashier", "r")
    with pytest.raises(InsufficientBalance):
        actions.refund(account, cny("40.01"), "cash", "cashier", "moving out", "f-1")
    assert actions.balance(account) == cny("40.00")
    actions.refund(account, cny("40.00"), "cash", "cashier", "moving out", "f-2")
    assert actions.balance(account) == cny("0.00")
    assert ledger_problems() == []


def test_a_wrong_recharge_is_reversed_once_with_a_mirror_entry():
    account = open_tenant_account()
    wrong = actions.recharge(account, cny("500.00"), "card", "cashier", "typo").entry
    first = actions.reverse(wrong, "supervisor", "typed 500 for 50")
    again = actions.reverse(wrong, "supervisor", "clicked twice")
    assert first.created
    assert not again.created
    assert again.entry.pk == first.entry.pk
    assert first.entry.reverses_id == wrong.pk
    assert actions.balance(account) == cny("0.00")
    assert chart.clearing(account.tenant.site, "card").balance == Decimal("0.00")
    assert (
        AuditEvent.objects.filter(action="ledger.reversal", reason="typed 500 for 50").count() == 1
    )
    assert ledger_problems() == []


def test_a_reversal_needs_a_reason_and_a_reversible_entry():
    account = open_tenant_account()
    entry = actions.recharge(account, cny("10.00"), "cash", "cashier", "r").entry
    with pytest.raises(actions.AccountActionError, match="reason"):
        actions.reverse(entry, "supervisor", "  ")
    settlement = consume(account, "1.00").entry
    with pytest.raises(actions.AccountActionError, match="cannot be reversed"):
        actions.reverse(settlement, "supervisor", "no")


def test_spent_credit_cannot_be_reversed_away():
    account = open_tenant_account()
    entry = actions.recharge(account, cny("10.00"), "cash", "cashier", "r").entry
    consume(account, "4.00")
    with pytest.raises(InsufficientBalance):
        actions.reverse(entry, "supervisor", "wrong account")
    assert actions.balance(account) == cny("6.00")
    assert not JournalEntry.objects.filter(kind="reversal").exists()


def test_closing_refunds_what_is_left_and_releases_the_points():
    account = open_tenant_account()
    actions.recharge(account, cny("25.00"), "cash", "cashier", "r")
    consume(account, "5.50")
    closing = actions.close_account(account, "cashier", "moved out")
    assert closing.refunded == cny("19.50")
    assert closing.collected == cny("0.00")
    assert actions.balance(account) == cny("0.00")
    assert closing.account.status == "closed"
    assert not account.links.filter(released_at__isnull=True).exists()
    with pytest.raises(actions.AccountClosed):
        actions.recharge(account, cny("1.00"), "cash", "cashier", "late")
    assert ledger_problems() == []


def test_closing_an_account_in_arrears_collects_the_amount_due():
    account = tenant_in_arrears("30.00")
    closing = actions.close_account(account, "cashier", "moved out")
    assert closing.collected == cny("30.00")
    assert closing.refunded == cny("0.00")
    assert actions.balance(account) == cny("0.00")
    assert chart.clearing(account.tenant.site, "cash").balance == Decimal("-30.00")


def test_thresholds_change_with_an_audited_before_and_after():
    account = open_tenant_account()
    actions.set_thresholds(account, "manager", "tenant asked", alarm1_threshold=Decimal("80.00"))
    event = AuditEvent.objects.get(action="account.thresholds")
    assert event.changes == {"alarm1_threshold": [None, "80.00"]}
    with pytest.raises(actions.AccountActionError, match="Not a threshold"):
        actions.set_thresholds(account, "manager", "x", balance=Decimal("1"))


def test_unbalanced_entries_are_refused_before_touching_the_database():
    account = open_tenant_account()
    with pytest.raises(UnbalancedEntryError, match="does not balance"):
        post(
            site_id=account.tenant.site_id,
            kind="settlement",
            lines=[
                (chart.wallet(account), cny("-1.00")),
                (chart.revenue(account.tenant.site, "electricity"), cny("0.99")),
            ],
            actor="bug",
        )
    assert not JournalEntry.objects.exists()


def test_postings_and_entries_are_append_only_in_the_database():
    account = open_tenant_account()
    entry = actions.recharge(account, cny("10.00"), "cash", "cashier", "r").entry
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Posting.objects.filter(entry=entry).update(amount=Decimal("99.00"))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    posting = entry.postings.first()
    with pytest.raises(PermissionError):
        posting.delete()
    with pytest.raises(PermissionError):
        entry.save()


def test_verification_catches_a_tampered_balance():
    account = open_tenant_account()
    actions.recharge(account, cny("10.00"), "cash", "cashier", "r")
    LedgerAccount.objects.filter(key=f"wallet:{account.pk}").update(balance=Decimal("1000.00"))
    assert ledger_problems() == [
        f"wallet:{account.pk}: cached balance 1000.00 but postings sum to 10.00"
    ]


def test_a_replayed_refund_returns_the_first_even_when_the_balance_moved_since():
    account = open_tenant_account()
    actions.recharge(account, cny("40.00"), "cash", "cashier", "r")
    first = actions.refund(account, cny("40.00"), "cash", "cashier", "moving out", "f-1")
    again = actions.refund(account, cny("40.00"), "cash", "cashier", "moving out", "f-1")
    assert (first.created, again.created) == (True, False)
    assert again.entry.pk == first.entry.pk
    assert actions.balance(account) == cny("0.00")
