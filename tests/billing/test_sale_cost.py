"""What a cashier's sale costs the database, pinned so that a regression fails here.

A recharge and a server-side or meter-side sale (``billing.sell``, what the
console and the API call) run a fixed number of SQL statements, and the site's ledger rows
that every sale shares (cash clearing, service fees) are locked only for the
final writes (docs/benchmarks.md, "Prepaid core"). Counted inside the test's
transaction: each action's BEGIN/COMMIT shows as SAVEPOINT/RELEASE.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pems.accounts import actions as ledger_actions
from pems.audit.models import AuditEvent
from pems.billing import actions
from pems.billing.models import PrepaidState
from pems.billing.sale_reads import read_for_sale
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.control.models import Command
from pems.ledger import chart
from pems.ledger.models import JournalEntry, Posting
from pems.ledger.posting import LedgerError
from pems.ledger.verify import ledger_problems
from tests.billing.scenarios import flat_tariff_document
from tests.factories import MeteringPointFactory, SiteFactory, TenantFactory, staff_user
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db

#: The statement that locks the entry's ledger rows and moves their balances.
LEDGER_LOCK = 'UPDATE "ledger_ledgeraccount" SET "balance"'


def server_side_account_with_fee(fee_control="server-side"):
    """An account (server-side unless said) priced flat with a 2 % service fee, and its cashier."""
    site = SiteFactory()
    point = MeteringPointFactory(meter__gateway__site=site, fee_control=fee_control)
    account = ledger_actions.open_account(TenantFactory(site=site), [point], actor="test")
    document = flat_tariff_document(effective_from="2025-01-01", extra="service_fee_ratio = 0.02")
    tariff = create_tariff(site, "Flat with fee", document, actor="test")
    assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="test")
    return account, staff_user("cashier", site)


def statements_of(call):
    with CaptureQueriesContext(connection) as queries:
        result = call()
    return result, [q["sql"] for q in queries.captured_queries]


def after_ledger_lock(statements):
    """The first word of each statement that runs while the shared ledger rows are locked."""
    (lock,) = [n for n, sql in enumerate(statements) if LEDGER_LOCK in sql]
    return [sql.split()[0] for sql in statements[lock + 1 :]]


#: On PostgreSQL one statement writes a new entry, its postings and audit event and moves
#: its ledger rows (``ledger.sql.post_entry``): the four statements SQLite runs for them.
POSTING = 1 if connection.vendor == "postgresql" else 4


def test_a_recharge_runs_four_statements_and_locks_the_ledger_rows_last():
    account, cashier = server_side_account_with_fee()
    ledger_actions.recharge(account, cny("1.00"), "cash", cashier, "first")  # opens the accounts
    sale, statements = statements_of(
        lambda: ledger_actions.recharge(account, cny("10.00"), "cash", cashier, "second")
    )
    assert sale.created
    # SAVEPOINT, account lock, the posting (entry, postings, audit, ledger lock + UPDATE),
    # RELEASE
    assert len(statements) == 3 + POSTING, "\n".join(statements)
    assert after_ledger_lock(statements) == ["RELEASE"]
    assert AuditEvent.objects.filter(
        action="ledger.recharge", object_id=str(sale.entry.pk), actor=cashier
    ).exists()


def test_a_server_side_sale_runs_six_statements_and_locks_the_ledger_rows_last():
    account, cashier = server_side_account_with_fee()
    actions.sell(account, cny("100.00"), "cash", cashier, "first")  # opens accounts, state
    (sale, push), statements = statements_of(
        lambda: actions.sell(account, cny("100.00"), "cash", cashier, "second")
    )
    assert sale.created
    assert push is None
    assert (sale.credited, sale.fee) == (cny("98.00"), cny("2.00"))
    assert Posting.objects.filter(entry=sale.entry).count() == 3
    # SAVEPOINT, account lock, what the sale reads (one statement), UPDATE alarm state,
    # the posting (entry, postings, audit, ledger lock + UPDATE balances), RELEASE: the
    # policy decides on the balance the sale will leave before the shared rows are locked.
    assert len(statements) == 5 + POSTING, "\n".join(statements)
    assert after_ledger_lock(statements) == ["RELEASE"]
    assert AuditEvent.objects.filter(action="ledger.recharge", object_id=str(sale.entry.pk))


def test_a_replayed_sale_posts_nothing_and_locks_no_ledger_row():
    account, cashier = server_side_account_with_fee()
    first, _ = actions.sell(account, cny("10.00"), "cash", cashier, "once")
    written = (JournalEntry.objects.count(), Posting.objects.count(), AuditEvent.objects.count())
    (again, _), statements = statements_of(
        lambda: actions.sell(account, cny("10.00"), "cash", cashier, "once")
    )
    assert (again.created, again.entry.pk) == (False, first.entry.pk)
    assert (JournalEntry.objects.count(), Posting.objects.count(), AuditEvent.objects.count()) == (
        written
    )
    assert not [sql for sql in statements if LEDGER_LOCK in sql]


def prepared_runs():
    """How many times this connection has run a prepared statement (PostgreSQL 14+)."""
    sql = "SELECT coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements"
    return connection.connection.execute(sql, prepare=False).fetchone()[0]  # itself not counted


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"
)
def test_every_statement_of_a_sale_runs_prepared_once_the_connection_has_seen_it():
    account, cashier = server_side_account_with_fee()
    for key in ["first", "second", "third"]:  # each statement is prepared at its second run
        actions.sell(account, cny("10.00"), "cash", cashier, key)
    before = prepared_runs()
    _sale, statements = statements_of(
        lambda: actions.sell(account, cny("10.00"), "cash", cashier, "fourth")
    )
    planned = [sql for sql in statements if not sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(planned) == 4  # the account lock, the reads, the alarm state, the posting
    assert prepared_runs() - before == len(planned)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
def test_a_sale_locks_the_account_row_but_not_its_tenant_or_site():
    account, cashier = server_side_account_with_fee()
    actions.sell(account, cny("1.00"), "cash", cashier, "first")
    _, statements = statements_of(lambda: actions.sell(account, cny("5.00"), "cash", cashier, "2"))
    (account_lock,) = [sql for sql in statements if 'FROM "accounts_account"' in sql]
    assert account_lock.endswith('FOR NO KEY UPDATE OF "accounts_account"')
    (ledger_lock,) = [sql for sql in statements if LEDGER_LOCK in sql]
    # Locked in key order (a materialised CTE), then moved by the same statement.
    assert 'ORDER BY "key" FOR NO KEY UPDATE)' in ledger_lock


def test_a_meter_side_sale_pushes_its_credit_before_it_locks_the_shared_ledger_rows():
    account, cashier = server_side_account_with_fee(fee_control="meter-side")
    actions.sell(account, cny("100.00"), "cash", cashier, "first")  # opens accounts, state
    (sale, push), statements = statements_of(
        lambda: actions.sell(account, cny("100.00"), "cash", cashier, "second")
    )
    assert sale.created
    assert push is not None
    assert push.payload == {"amount": "98.00"}
    # The recharge, the transfer to the meter, the push and the alarm state come first;
    # the site's clearing and fee rows are locked and moved by the last statement.
    shared = [n for n, sql in enumerate(statements) if LEDGER_LOCK in sql and "clearing:" in sql]
    assert len(shared) == 1, "\n".join(statements)
    assert [sql.split()[0] for sql in statements[shared[0] + 1 :]] == ["RELEASE"]


def test_a_meter_side_sale_runs_twelve_statements_and_locks_the_ledger_rows_last():
    account, cashier = server_side_account_with_fee(fee_control="meter-side")
    actions.sell(account, cny("100.00"), "cash", cashier, "first")  # opens accounts, state
    events_before = AuditEvent.objects.count()
    (sale, push), statements = statements_of(
        lambda: actions.sell(account, cny("100.00"), "cash", cashier, "second")
    )
    assert sale.created
    assert (push.payload, push.purchase_count) == ({"amount": "98.00"}, 2)
    # SAVEPOINT, account lock, what the sale reads, the recharge entry, the transfer entry,
    # the point's row lock, the push (its count worked out by the INSERT), UPDATE alarm
    # state, both entries' postings, the three audit events, ledger lock + UPDATE every
    # row the sale moves, RELEASE.
    assert len(statements) == 12, "\n".join(statements)
    assert after_ledger_lock(statements) == ["RELEASE"]
    transfer = JournalEntry.objects.get(idempotency_key=f"meter-transfer:{sale.entry.pk}")
    assert Posting.objects.filter(entry__in=[sale.entry, transfer]).count() == 5
    events = AuditEvent.objects.order_by("pk")[events_before:]
    assert [(e.action, e.object_id, e.actor) for e in events] == [
        ("ledger.recharge", str(sale.entry.pk), cashier),
        ("ledger.meter-transfer", str(transfer.pk), cashier),
        ("control.enqueue", str(push.pk), cashier),
    ]
    assert ledger_problems() == []


def test_a_meter_side_sale_tells_the_policy_the_wallet_and_the_meter_after_the_transfer():
    account, cashier = server_side_account_with_fee(fee_control="meter-side")
    ledger_actions.recharge(account, cny("5.00"), "cash", cashier, "kept in the wallet")
    sale, _ = actions.sell(account, cny("100.00"), "cash", cashier, "to the meter")
    assert sale.balance == cny("103.00")  # right after the recharge entry
    assert ledger_actions.balance(account) == cny("5.00")
    # The alarm is judged from what the tenant can use: 5.00 in the wallet, 98.00 pushed.
    assert PrepaidState.objects.get(account=account).balance == Decimal("103.00")


def test_a_replayed_meter_side_sale_writes_nothing():
    account, cashier = server_side_account_with_fee(fee_control="meter-side")
    first, push = actions.sell(account, cny("10.00"), "cash", cashier, "once")
    written = (
        JournalEntry.objects.count(),
        Posting.objects.count(),
        AuditEvent.objects.count(),
        Command.objects.count(),
    )
    (again, push_again), statements = statements_of(
        lambda: actions.sell(account, cny("10.00"), "cash", cashier, "once")
    )
    assert (again.created, again.entry.pk, push_again.pk) == (False, first.entry.pk, push.pk)
    assert (
        JournalEntry.objects.count(),
        Posting.objects.count(),
        AuditEvent.objects.count(),
        Command.objects.count(),
    ) == written
    assert not [sql for sql in statements if LEDGER_LOCK in sql]


def test_a_meter_side_sale_whose_wallet_moved_outside_the_lock_is_undone(monkeypatch):
    account, cashier = server_side_account_with_fee(fee_control="meter-side")
    actions.sell(account, cny("10.00"), "cash", cashier, "first")
    written = (JournalEntry.objects.count(), Command.objects.count(), AuditEvent.objects.count())
    wallet = chart.wallet(account).balance

    def stale(*args, **kwargs):  # as if the wallet had moved since the sale read it
        return replace(read_for_sale(*args, **kwargs), wallet=Decimal("1.00"))

    monkeypatch.setattr(actions, "read_for_sale", stale)
    with pytest.raises(LedgerError, match="moved outside the account lock"):
        actions.sell(account, cny("10.00"), "cash", cashier, "second")
    assert (JournalEntry.objects.count(), Command.objects.count(), AuditEvent.objects.count()) == (
        written
    )
    assert chart.wallet(account).balance == wallet
    assert ledger_problems() == []
