"""Settling many points from one prefetch, a chunk of points per transaction.

The per-point path (:func:`pems.billing.settlement.settle_point`) costs a
transaction, two row locks, a tariff check and a ledger posting of five
statements for every point. Here a chunk of points shares them: its accounts
and cursors are locked in two statements (account rows first, in id order, as
everywhere), its tariff assignments read in one, its entries posted by
:func:`pems.ledger.posting.post_many` and its cursors moved in one update
(:func:`pems.core.bulk.update_many`). A
point the chunk cannot price from its summary — the cursor moved, a tariff
was assigned since the prefetch, a total fell — is left to ``settle_point``.

:func:`prefetch_and_settle`, what the settle job runs, settles each chunk as
soon as its summaries are read: a backlog walked over the hour marks comes
point by point while PostgreSQL still walks the rest (ADR 0005).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime

from django.db import transaction

from pems.accounts.models import Account
from pems.billing.models import AccountTariff, SettlementCursor
from pems.billing.settlement import (
    CURSOR_FIELDS,
    charge_entry,
    commit_without_waiting_for_disk,
    move,
)
from pems.billing.summaries import (
    NotSummarisable,
    Prefetch,
    Summary,
    price_summary,
    summaries_as_read,
)
from pems.core.bulk import update_many
from pems.domain.errors import DomainError
from pems.ledger.posting import IdempotencyConflict, NewEntry, post_many

#: What charging reads of an account: the entry's site, and the ledger rows' currency.
_CHARGED_BY = ("id", "tenant__id", "tenant__site__id", "tenant__site__currency")

#: Points per transaction: long enough to share the statements, short enough that a
#: cashier's sale on one of these accounts waits a few milliseconds at most in steady state.
CHUNK = 20


def settle_summaries(
    summaries: Iterable[tuple[int, Summary]], actor: str = "settlement"
) -> set[tuple[int, int]]:
    """Settle every point its summary (by cursor id) can price, a chunk as soon as it is full;
    the (account id, point id) pairs handled.

    A pair is handled when it was charged, or found with nothing new. A chunk
    that loses a race with another settlement run (a key already used) is
    rolled back whole and its points left to the per-point path.
    """
    handled: set[tuple[int, int]] = set()
    chunk: dict[int, Summary] = {}
    for cursor_id, summary in summaries:
        chunk[cursor_id] = summary
        if len(chunk) == CHUNK:
            handled |= _settle_or_leave(chunk, actor)
            chunk = {}
    if chunk:
        handled |= _settle_or_leave(chunk, actor)
    return handled


def prefetch_and_settle(
    accounts: Sequence[Account], actor: str = "settlement"
) -> tuple[Prefetch, set[tuple[int, int]]]:
    """The accounts' summaries, each chunk of them settled as soon as it is read: a backlog's
    first points are charged while PostgreSQL still walks the others (``summaries_as_read``).
    Returns the whole prefetch, for the points left to the per-point path, and the pairs
    handled."""
    read: dict[int, Summary] = {}

    def kept() -> Iterator[tuple[int, Summary]]:
        for cursor_id, summary in summaries_as_read(accounts):
            read[cursor_id] = summary
            yield cursor_id, summary

    handled = settle_summaries(kept(), actor)
    return Prefetch(read), handled


def _settle_or_leave(chunk: Mapping[int, Summary], actor: str) -> set[tuple[int, int]]:
    try:
        return _settle_chunk(chunk, actor)
    except IdempotencyConflict:
        return set()


@transaction.atomic
def _settle_chunk(chunk: Mapping[int, Summary], actor: str) -> set[tuple[int, int]]:
    commit_without_waiting_for_disk()
    account_ids = sorted({summary.assignment.account_id for summary in chunk.values()})
    accounts = {
        account.pk: account
        for account in Account.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant__site")
        .only(*_CHARGED_BY)  # the rest, dates above all, costs a chunk ms to read
        .filter(pk__in=account_ids)
        .order_by("pk")
    }
    cursors = {
        cursor.pk: cursor
        for cursor in SettlementCursor.objects.select_for_update(no_key=True)
        .filter(pk__in=list(chunk))
        .order_by("pk")
    }
    assignments = _assignments(account_ids)
    handled: set[tuple[int, int]] = set()
    entries: list[NewEntry] = []
    moved: list[SettlementCursor] = []
    for cursor_id, summary in chunk.items():
        cursor = cursors.get(cursor_id)
        account = accounts.get(summary.assignment.account_id)
        if cursor is None or account is None or cursor.settled_until != summary.after:
            continue  # settled by someone else since the prefetch
        if _assigned_since(summary, assignments.get(account.pk, ())):
            continue
        tariff_row = summary.assignment.tariff
        try:
            priced = price_summary(cursor, tariff_row, summary)
        except (NotSummarisable, DomainError):  # the per-point path says why, per account
            continue
        handled.add((account.pk, cursor.point_id))
        if priced is None:
            continue
        charges, last = priced
        entry, _amount, residue = charge_entry(account, cursor, tariff_row, charges, last)
        if entry is not None:
            entries.append(entry)
        move(cursor, last, charges.cycle, residue)
        moved.append(cursor)
    post_many(entries, actor)
    update_many(moved, CURSOR_FIELDS)
    return handled


def _assignments(account_ids: list[int]) -> dict[int, list[tuple[int, datetime]]]:
    found: dict[int, list[tuple[int, datetime]]] = {}
    rows = AccountTariff.objects.filter(account_id__in=account_ids)
    for pk, account_id, effective_from in rows.values_list("pk", "account_id", "effective_from"):
        found.setdefault(account_id, []).append((pk, effective_from))
    return found


def _assigned_since(summary: Summary, rows: Iterable[tuple[int, datetime]]) -> bool:
    """Whether the account has another tariff assignment starting at or after the summary's."""
    start = summary.assignment.effective_from
    return any(pk != summary.assignment.pk and at >= start for pk, at in rows)
