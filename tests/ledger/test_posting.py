"""Posting inserts first and locks the ledger rows last: a refusal still changes nothing
and leaves the caller's transaction usable, and first uses still open their accounts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pems.accounts import actions
from pems.audit.models import AuditEvent
from pems.ledger import chart
from pems.ledger.models import JournalEntry, LedgerAccount, Posting
from pems.ledger.posting import (
    IdempotencyConflict,
    InsufficientBalance,
    LedgerError,
    NewEntry,
    post,
    post_many,
    shared_rows_last,
)
from pems.ledger.verify import ledger_problems
from tests.factories import SiteFactory
from tests.ledger.scenarios import cny, consume, open_tenant_account, settlement_lines

pytestmark = pytest.mark.django_db


def rows():
    return JournalEntry.objects.count(), Posting.objects.count(), AuditEvent.objects.count()


def test_a_refused_refund_is_undone_and_the_callers_transaction_goes_on():
    account = open_tenant_account()
    actions.recharge(account, cny("40.00"), "cash", "cashier", "r")
    before = rows()
    with transaction.atomic():
        with pytest.raises(InsufficientBalance, match="wallet"):
            actions.refund(account, cny("40.01"), "cash", "cashier", "too much", "f-1")
        assert rows() == before  # the entry, postings and audit event were rolled back
        refunded = actions.refund(account, cny("15.00"), "cash", "cashier", "moving", "f-2")
    assert refunded.created
    assert actions.balance(account) == cny("25.00")
    assert ledger_problems() == []


def test_a_conflicting_key_changes_nothing_and_leaves_the_transaction_usable():
    account = open_tenant_account()
    actions.recharge(account, cny("50.00"), "cash", "cashier", "k")
    consume(account, "5.00", key="settle-1")
    before = rows()
    with transaction.atomic():
        with pytest.raises(IdempotencyConflict, match="'recharge:k'"):
            actions.recharge(account, cny("60.00"), "card", "cashier", "k")
        with pytest.raises(IdempotencyConflict, match="'settle-1'"):
            consume(account, "6.00", key="settle-1")  # ``post`` itself, no action around it
        assert rows() == before
        assert actions.balance(account) == cny("45.00")


def test_a_first_sale_opens_its_ledger_accounts_and_reports_the_new_balances():
    account = open_tenant_account()
    site = account.tenant.site
    assert not LedgerAccount.objects.filter(site=site).exists()
    sale = actions.recharge(
        account, cny("100.00"), "wechat", "kiosk", "r", fee_ratio=Decimal("0.02")
    )
    keys = set(LedgerAccount.objects.filter(site=site).values_list("key", flat=True))
    assert keys == {f"clearing:{site.pk}:wechat", f"wallet:{account.pk}", f"service-fee:{site.pk}"}
    assert sale.balance == cny("98.00")
    assert chart.service_fees(site).balance == Decimal("2.00")
    again = actions.recharge(account, cny("10.00"), "wechat", "kiosk", "r2")
    assert again.balance == cny("108.00") == actions.balance(account)
    assert ledger_problems() == []


def test_a_sale_through_a_new_channel_opens_that_account_alone_and_posts_every_line():
    account = open_tenant_account()
    site = account.tenant.site
    actions.recharge(account, cny("20.00"), "cash", "cashier", "first")  # wallet, cash clearing
    sale = actions.recharge(account, cny("30.00"), "alipay", "cashier", "second", reason="till")
    # On PostgreSQL the one statement posts the lines whose accounts exist and moves nothing;
    # the new account is then opened, its line posted and every balance moved.
    posted = dict(
        Posting.objects.filter(entry=sale.entry).values_list("ledger_account__key", "amount")
    )
    assert posted == {
        f"clearing:{site.pk}:alipay": Decimal("-30.00"),
        f"wallet:{account.pk}": Decimal("30.00"),
    }
    assert sale.balance == cny("50.00") == actions.balance(account)
    assert chart.clearing(site, "alipay").balance == Decimal("-30.00")
    (event,) = AuditEvent.objects.filter(object_id=str(sale.entry.pk), action="ledger.recharge")
    assert (event.object_repr, event.reason) == (str(sale.entry), "till")
    assert ledger_problems() == []


def test_an_entrys_audit_event_names_it_as_record_would():
    account = open_tenant_account()
    actions.recharge(account, cny("20.00"), "cash", "cashier", "first")
    sale = actions.recharge(account, cny("5.00"), "cash", "cashier", "second", reason="at the till")
    (event,) = AuditEvent.objects.filter(
        object_type="ledger.journalentry", object_id=str(sale.entry.pk)
    )
    assert event.object_repr == str(sale.entry) == f"#{sale.entry.pk} recharge"
    assert event.actor_label == "cashier"
    assert event.changes == {
        f"clearing:{account.tenant.site_id}:cash": "-5.00",
        f"wallet:{account.pk}": "5.00",
    }


def settlement_of(account, amount: str, key: str):
    return NewEntry(
        site_id=account.tenant.site_id,
        kind=JournalEntry.Kind.SETTLEMENT,
        lines=settlement_lines(account, amount),
        idempotency_key=key,
        account_id=account.pk,
        memo={"point": 1},
    )


def test_post_many_posts_each_entry_and_moves_each_balance_once():
    site = SiteFactory()
    first, second = open_tenant_account(site), open_tenant_account(site)
    entries = post_many(
        [
            settlement_of(first, "1.25", "k1"),
            settlement_of(second, "2.50", "k2"),
            settlement_of(first, "0.75", "k3"),
        ],
        actor="settlement",
    )
    assert [e.idempotency_key for e in entries] == ["k1", "k2", "k3"]
    assert all(e.pk for e in entries)
    assert actions.balance(first) == cny("-2.00")
    assert actions.balance(second) == cny("-2.50")
    revenue = chart.revenue(site, "electricity")
    assert revenue.balance == Decimal("4.50")
    assert JournalEntry.objects.get(idempotency_key="k2").postings.count() == 2
    assert ledger_problems() == []


def test_post_many_on_known_accounts_is_one_statement_on_postgresql():
    site = SiteFactory()
    first, second = open_tenant_account(site), open_tenant_account(site)
    post_many([settlement_of(first, "1.00", "a"), settlement_of(second, "1.00", "b")], "job")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        entries = post_many(
            [settlement_of(first, "0.50", "c"), settlement_of(second, "2.25", "d")], "job"
        )
    # Inside the caller's transaction no savepoint: a refusal abandons the caller's anyway.
    expected = 1 if connection.vendor == "postgresql" else 4  # keys, entries, postings, move
    assert len(queries.captured_queries) == expected, [q["sql"] for q in queries]
    assert [JournalEntry.objects.get(pk=e.pk).idempotency_key for e in entries] == ["c", "d"]
    assert (actions.balance(first), actions.balance(second)) == (cny("-1.50"), cny("-3.25"))
    assert chart.revenue(site, "electricity").balance == Decimal("4.75")
    assert Posting.objects.filter(entry__in=entries).count() == 4
    assert ledger_problems() == []


def test_post_many_refuses_the_lot_when_a_key_was_used():
    account = open_tenant_account()
    post_many([settlement_of(account, "1.00", "used")], actor="settlement")
    with pytest.raises(IdempotencyConflict, match="used"), transaction.atomic():
        post_many(
            [settlement_of(account, "5.00", "fresh"), settlement_of(account, "1.00", "used")],
            actor="settlement",
        )
    assert actions.balance(account) == cny("-1.00")
    assert not JournalEntry.objects.filter(idempotency_key="fresh").exists()
    assert ledger_problems() == []


def test_post_many_refuses_an_entry_that_does_not_balance():
    from pems.domain.errors import DomainError

    account = open_tenant_account()
    lopsided = NewEntry(
        site_id=account.tenant.site_id,
        kind=JournalEntry.Kind.SETTLEMENT,
        lines=[(chart.wallet_ref(account), -cny("1.00"))],
        idempotency_key="lopsided",
    )
    with pytest.raises(DomainError):
        post_many([settlement_of(account, "1.00", "ok"), lopsided], actor="settlement")
    assert not JournalEntry.objects.exists()


def test_inside_shared_rows_last_the_tenants_rows_move_at_once_and_the_shared_ones_on_exit():
    account = open_tenant_account()
    site = account.tenant.site
    actions.recharge(account, cny("5.00"), "cash", "cashier", "opens the accounts")
    with transaction.atomic():
        with shared_rows_last():
            sale = actions.recharge(account, cny("20.00"), "cash", "cashier", "in")
            assert sale.balance == cny("25.00")  # the wallet moved at once
            assert chart.clearing(site, "cash").balance == Decimal("-5.00")  # not yet
            actions.recharge(account, cny("10.00"), "cash", "cashier", "in-2")
        assert chart.clearing(site, "cash").balance == Decimal("-35.00")  # both, on exit
    assert actions.balance(account) == cny("35.00")
    assert ledger_problems() == []


def test_shared_rows_last_applies_nothing_when_the_action_fails():
    account = open_tenant_account()
    site = account.tenant.site
    actions.recharge(account, cny("5.00"), "cash", "cashier", "opens the accounts")
    before = rows()

    def sale_that_fails():
        with transaction.atomic(), shared_rows_last():
            actions.recharge(account, cny("20.00"), "cash", "cashier", "lost")
            raise RuntimeError("till jammed")

    with pytest.raises(RuntimeError, match="till jammed"):
        sale_that_fails()
    assert rows() == before
    assert chart.clearing(site, "cash").balance == Decimal("-5.00")
    with transaction.atomic(), shared_rows_last():  # and the next use starts clean
        actions.recharge(account, cny("1.00"), "cash", "cashier", "next")
    assert chart.clearing(site, "cash").balance == Decimal("-6.00")
    assert ledger_problems() == []


def test_shared_rows_last_keeps_floors_on_the_tenants_own_rows():
    account = open_tenant_account()
    actions.recharge(account, cny("5.00"), "cash", "cashier", "r")
    with transaction.atomic(), shared_rows_last():  # a refund's floor is on the wallet: fine
        actions.refund(account, cny("2.00"), "cash", "cashier", "part", "f")
    clearing = chart.clearing(account.tenant.site, "cash")
    wallet = chart.wallet(account)

    def floor_on_the_clearing_row():
        with transaction.atomic(), shared_rows_last():
            post(
                site_id=account.tenant.site_id,
                kind=JournalEntry.Kind.REFUND,
                lines=[(wallet, cny("-1.00")), (clearing, cny("1.00"))],
                actor="test",
                idempotency_key="shared-floor",
                floors={clearing.key: Decimal(0)},
            )

    with pytest.raises(LedgerError, match="floor on a shared"):
        floor_on_the_clearing_row()
    assert actions.balance(account) == cny("3.00")


def test_with_every_row_the_postings_and_every_balance_wait_for_the_exit():
    account = open_tenant_account()
    site = account.tenant.site
    actions.recharge(account, cny("5.00"), "cash", "cashier", "opens the accounts")
    with transaction.atomic():
        with shared_rows_last(every_row=True) as moved:
            first = actions.recharge(account, cny("20.00"), "cash", "cashier", "in")
            second = actions.recharge(account, cny("10.00"), "card", "cashier", "in-2")
            assert (first.created, first.balance) == (True, None)  # nothing moved yet
            assert actions.balance(account) == cny("5.00")
            assert not Posting.objects.filter(entry__in=[first.entry, second.entry]).exists()
        assert moved == {  # what the one statement on exit left
            chart.wallet_ref(account).key: Decimal("35.00"),
            chart.clearing_ref(site, "cash").key: Decimal("-25.00"),
            chart.clearing_ref(site, "card").key: Decimal("-10.00"),
        }
    assert Posting.objects.filter(entry__in=[first.entry, second.entry]).count() == 4
    assert actions.balance(account) == cny("35.00")
    assert ledger_problems() == []


def test_with_every_row_the_exit_writes_all_postings_in_one_insert_then_one_move():
    account = open_tenant_account()
    actions.recharge(account, cny("5.00"), "cash", "cashier", "opens the accounts")
    with (
        transaction.atomic(),
        CaptureQueriesContext(connection) as queries,
        shared_rows_last(every_row=True),
    ):
        actions.recharge(account, cny("20.00"), "cash", "cashier", "in")
        actions.recharge(account, cny("10.00"), "cash", "cashier", "in-2")
        inside = len(queries.captured_queries)
    on_exit = [q["sql"] for q in queries.captured_queries[inside:]]
    assert len(on_exit) == 2, on_exit
    assert on_exit[0].startswith('INSERT INTO "ledger_posting"')
    assert on_exit[1].startswith(("WITH locked", 'UPDATE "ledger_ledgeraccount"'))
    assert ledger_problems() == []


def test_with_every_row_a_floor_is_refused_and_a_failure_applies_nothing():
    account = open_tenant_account()
    actions.recharge(account, cny("5.00"), "cash", "cashier", "r")
    before = rows()

    def refund_inside():
        with transaction.atomic(), shared_rows_last(every_row=True):
            actions.refund(account, cny("2.00"), "cash", "cashier", "part", "f")

    def sale_that_fails():
        with transaction.atomic(), shared_rows_last(every_row=True):
            actions.recharge(account, cny("20.00"), "cash", "cashier", "lost")
            raise RuntimeError("till jammed")

    with pytest.raises(LedgerError, match="floor on a ledger row cannot wait"):
        refund_inside()
    with pytest.raises(RuntimeError, match="till jammed"):
        sale_that_fails()
    assert rows() == before
    with transaction.atomic(), shared_rows_last(every_row=True):  # the next use starts clean
        actions.recharge(account, cny("1.00"), "cash", "cashier", "next")
    assert actions.balance(account) == cny("6.00")
    assert ledger_problems() == []


def test_a_refund_refused_inside_shared_rows_last_leaves_nothing_to_move_on_exit():
    """The refusal's savepoint undoes its entry; its clearing delta must not wait for the exit."""
    account = open_tenant_account()
    actions.recharge(account, cny("5.00"), "cash", "cashier", "r")
    with transaction.atomic(), shared_rows_last():
        with pytest.raises(InsufficientBalance):
            actions.refund(account, cny("9.00"), "cash", "cashier", "too much", "f")
        actions.recharge(account, cny("1.00"), "cash", "cashier", "next")
    assert chart.clearing(account.tenant.site, "cash").balance == Decimal("-6.00")
    assert actions.balance(account) == cny("6.00")
    assert ledger_problems() == []
