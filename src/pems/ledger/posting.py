"""Posting journal entries: the only code that changes a ledger balance.

One call = one database transaction: the entry and its postings are
inserted, the ledger accounts are locked in key order (no deadlocks between
concurrent posters), and each cached balance moves by ``balance + delta`` in
the database — never read, decided and written back. An idempotency key
makes a repeated call return the first entry instead of posting twice.

Lock order, everywhere: the tenant ``Account`` row first (actions do this),
then ledger accounts by key (``post`` does this), always as ``FOR NO KEY
UPDATE`` so inserting rows that reference them never waits on the lock.

The ledger rows are locked *last*, after the inserts: a site's clearing and
fee accounts take part in every sale there, so each sale holds them only
from that lock to its commit. On PostgreSQL the inserts, the audit event and
the move are one statement (``sql.post_entry``). Refusals that need no lock (a reused key)
come before the first write; a floor (``InsufficientBalance``) is judged on
the locked rows, inside a savepoint that undoes the inserts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from pems.audit.log import holding, record, unsaved
from pems.core import rows
from pems.domain.ledger import Line, check_entry
from pems.domain.money import Money
from pems.ledger import chart, sql
from pems.ledger.models import JournalEntry, LedgerAccount

#: An entry's lines: (ledger account or a chart stand-in, amount).
Lines = Sequence[tuple[LedgerAccount, Money]]


class LedgerError(Exception):
    """A posting was refused; the message says why. Nothing was written."""


class InsufficientBalance(LedgerError):
    """The entry would take an account below the floor it must keep."""


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different entry."""


@dataclass(frozen=True)
class Posted:
    """The entry a call produced, whether this call created it, and the balances it left.

    ``balances`` maps each ledger-account key of the entry to its balance
    after this entry, in the posting transaction (empty for a replay; inside
    :func:`shared_rows_last`, only the rows a tenant account owns).
    """

    entry: JournalEntry
    created: bool
    balances: Mapping[str, Decimal] = field(default_factory=dict)


def post(
    *,
    site_id: int,
    kind: str,
    lines: Sequence[tuple[LedgerAccount, Money]],
    actor: Any,
    reason: str = "",
    account_id: int | None = None,
    idempotency_key: str | None = None,
    reverses: JournalEntry | None = None,
    memo: dict[str, Any] | None = None,
    floors: dict[str, Decimal] | None = None,
) -> Posted:
    """Post one balanced entry; ``floors`` maps ledger-account key → lowest allowed balance.

    A line's account is a stored row or a chart stand-in (``chart.wallet_ref`` …),
    found by key; an account used for the first time is opened.
    """
    check_entry([Line(account.key, amount) for account, amount in lines])
    entry = JournalEntry(
        site_id=site_id,
        account_id=account_id,
        kind=kind,
        reason=reason,
        idempotency_key=idempotency_key,
        reverses=reverses,
        memo=memo or {},
        **_actor_columns(actor),
    )
    # Only a floor can refuse after the inserts; then a savepoint undoes them.
    with transaction.atomic(savepoint=bool(floors)):
        posted = _post_new(entry, lines, actor, floors or {})
    if posted is not None:
        return posted
    # The key was used before (a replay, or a concurrent call that won); nothing was written.
    found = _replay(idempotency_key, kind, lines) if idempotency_key else None
    if found is None:
        raise LedgerError(
            _("idempotency key %(key)s is taken but not found") % {"key": repr(idempotency_key)}
        )
    return Posted(found, created=False)


@dataclass(frozen=True)
class NewEntry:
    """One entry for :func:`post_many`: ``post``'s arguments less the actor and floors."""

    site_id: int
    kind: str
    lines: Sequence[tuple[LedgerAccount, Money]]
    idempotency_key: str
    account_id: int | None = None
    memo: dict[str, Any] = field(default_factory=dict)


def post_many(entries: Sequence[NewEntry], actor: str) -> list[JournalEntry]:
    """Post several balanced entries of a system job (no person, so no audit) at once.

    The same rules as :func:`post` — every entry sums to zero, ledger rows are
    locked last and in key order, balances move by ``balance + delta`` — in
    one statement for the lot on PostgreSQL (``sql.post_entries``), four on
    SQLite. All or nothing: if any key was used before,
    :class:`IdempotencyConflict` is raised and the caller's transaction must
    be abandoned (the job then posts those entries one by one).
    """
    if not entries:
        return []
    for new in entries:  # refused before any write: the caller's transaction goes on
        check_entry([Line(account.key, amount) for account, amount in new.lines])
    return _post_many(entries, actor)


@transaction.atomic(savepoint=False)  # all or nothing with the caller's transaction
def _post_many(entries: Sequence[NewEntry], actor: str) -> list[JournalEntry]:
    made = [
        JournalEntry(
            site_id=new.site_id,
            account_id=new.account_id,
            kind=new.kind,
            idempotency_key=new.idempotency_key,
            memo=new.memo,
            **_actor_columns(actor),
        )
        for new in entries
    ]
    if connection.vendor == "postgresql" and _posted_at_once(made, entries):
        return made
    ids = _resolve({account.key: account for new in entries for account, _ in new.lines})
    entry_ids = sql.insert_entries(made)
    _check_keys(made, entry_ids)
    postings = []
    for row, new in zip(made, entries, strict=True):
        rows.saved(row, entry_ids[row.idempotency_key or ""])
        postings += [(row.pk, ids[account.key], amount.amount) for account, amount in new.lines]
    deltas = _deltas(line for new in entries for line in new.lines)
    sql.insert_postings_of(postings)
    sql.move_balances(deltas)
    return made


def _posted_at_once(made: list[JournalEntry], entries: Sequence[NewEntry]) -> bool:
    """PostgreSQL: :func:`post_many` in one statement; False, having written nothing, if
    an account is used for the first time (the statement-a-step way then opens it)."""
    lines = [
        (new.idempotency_key, account.key, amount.amount)
        for new in entries
        for account, amount in new.lines
    ]
    entry_ids, missing = sql.post_entries(made, lines)
    if missing:
        return False
    _check_keys(made, entry_ids)
    for row in made:
        rows.saved(row, entry_ids[row.idempotency_key or ""])
    return True


def _check_keys(made: list[JournalEntry], entry_ids: Mapping[str, int]) -> None:
    if len(entry_ids) != len(made):
        taken = sorted(r.idempotency_key or "" for r in made if r.idempotency_key not in entry_ids)
        raise IdempotencyConflict(f"idempotency keys already used: {', '.join(taken[:5])}")


def _post_new(
    entry: JournalEntry,
    lines: Sequence[tuple[LedgerAccount, Money]],
    actor: Any,
    floors: dict[str, Decimal],
) -> Posted | None:
    """Insert the entry, its postings and audit event, then move the balances; None on replay."""
    later: _Later | None = getattr(_deferred, "later", None)
    deltas = _deltas(lines)
    if later is None and connection.vendor == "postgresql":
        balances = _post_at_once(entry, lines, deltas, actor)
        if balances is None:
            return None
        if short := _below_floor(balances, deltas, floors):
            raise InsufficientBalance(short)
        return Posted(entry, created=True, balances=balances)
    entry_id = sql.insert_entry(entry)
    if entry_id is None:
        return None
    now, wait = (deltas, {}) if later is None else later.split(deltas, lines, floors)
    if later is None or not later.every_row:
        _insert_postings([(entry_id, lines)])
    if entry.actor_id is not None or entry.reason:
        record(actor, f"ledger.{entry.kind}", entry, _changes(lines), entry.reason)
    balances = sql.move_balances(now) if now else {}
    # Judged on the locked rows: no other transaction can move them until commit.
    if short := _below_floor(balances, deltas, floors):
        raise InsufficientBalance(short)
    if later is not None:  # only now: a refused entry (rolled back) must leave nothing to apply
        later.hold(entry_id, lines, wait)
    return Posted(entry, created=True, balances=balances)


def _post_at_once(
    entry: JournalEntry, lines: Lines, deltas: dict[str, Decimal], actor: Any
) -> dict[str, Decimal] | None:
    """PostgreSQL, ledger rows not deferred: :func:`_post_new`'s statements as one
    (``sql.post_entry``); the balances moved, None on a replay.

    Four statements of every sale become one. An account used for the first time
    has no row for the statement to find: it is opened, its line posted and every
    balance moved after, as :func:`_post_new` does.
    """
    audited = entry.actor_id is not None or bool(entry.reason)
    event = None
    if audited and not holding():
        entry.pk = sql.ENTRY_ID  # its text then names the id the statement will give it
        try:
            event = unsaved(actor, f"ledger.{entry.kind}", entry, _changes(lines), entry.reason)
        finally:
            entry.pk = None
    wanted = [(account.key, amount.amount) for account, amount in lines]
    entry_id, posted, balances = sql.post_entry(entry, wanted, deltas, event)
    if entry_id is None:
        return None
    rows.saved(entry, entry_id)
    if audited and event is None:  # held by recorded_together(), written on its exit
        record(actor, f"ledger.{entry.kind}", entry, _changes(lines), entry.reason)
    if len(posted) == len(lines):
        return balances
    ids = _resolve({account.key: account for account, _ in lines})
    done = set(posted)
    sql.insert_postings_of(
        [(entry_id, ids[a.key], amount.amount) for a, amount in lines if ids[a.key] not in done]
    )
    return sql.move_balances(deltas)


def _changes(lines: Lines) -> dict[str, str]:
    """What an entry's audit event says it changed: each account's amount."""
    return {account.key: str(amount.amount) for account, amount in lines}


@dataclass
class _Later:
    """What ``post`` leaves for the exit of :func:`shared_rows_last`."""

    every_row: bool
    deltas: dict[str, Decimal] = field(default_factory=dict)
    postings: list[tuple[int, Lines]] = field(default_factory=list)
    moved: dict[str, Decimal] = field(default_factory=dict)

    def split(
        self, deltas: dict[str, Decimal], lines: Lines, floors: dict[str, Decimal]
    ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """The deltas to move now (a tenant's own rows, or none) and those that wait."""
        owned: set[str] = set()
        if not self.every_row:
            owned = {account.key for account, _ in lines if account.account_id is not None}
        if floors.keys() - owned:
            which = "" if self.every_row else "shared "
            raise LedgerError(f"a floor on a {which}ledger row cannot wait for shared_rows_last()")
        now = {key: delta for key, delta in deltas.items() if key in owned}
        return now, {key: delta for key, delta in deltas.items() if key not in owned}

    def hold(self, entry_id: int, lines: Lines, wait: dict[str, Decimal]) -> None:
        """Keep a posted entry's waiting deltas (and with ``every_row`` its postings)."""
        if self.every_row:
            self.postings.append((entry_id, lines))
        for key, delta in wait.items():
            self.deltas[key] = self.deltas.get(key, Decimal(0)) + delta


_deferred = threading.local()  # per thread, as Django's connections are


@contextmanager
def shared_rows_last(*, every_row: bool = False) -> Iterator[dict[str, Decimal]]:
    """Inside, ``post`` moves rows no tenant account owns (clearing, fees …) only on exit.

    For an action that posts several entries in one transaction (a meter-side
    sale: recharge, transfer to the meter, credit push): a tenant's own rows
    (wallet, meter credit) move at once — only that tenant's locked account
    reaches them, so taking them before the shared rows cannot deadlock — while
    the site's shared rows, which every sale there takes part in, are locked
    in key order and moved in one statement at the very end, just before the
    commit.

    With ``every_row`` the tenant's rows wait too, for an action that knows
    their balances from its reads under the account lock, and so do the
    postings: on exit one INSERT writes every entry's postings, then one
    statement moves every row in key order. The yielded dict receives the
    balances that statement leaves (key → balance), to check against what the
    action expected. Use inside the action's transaction; on an exception
    nothing is applied (the transaction is rolled back). Nested uses join the
    outer one.
    """
    outer: _Later | None = getattr(_deferred, "later", None)
    if outer is not None:
        yield outer.moved
        return
    if not connection.in_atomic_block:
        raise LedgerError("shared_rows_last() needs the action's transaction")
    later = _deferred.later = _Later(every_row)
    try:
        yield later.moved
        _deferred.later = None
        if later.postings:
            _insert_postings(later.postings)
        if later.deltas:
            later.moved.update(sql.move_balances(later.deltas))
    finally:
        _deferred.later = None


def _insert_postings(entries: Sequence[tuple[int, Lines]]) -> None:
    """Post each line of each entry to its account by key; an account used first now is opened.

    No ledger row is locked yet, so opening one never takes a lock out of key order.
    """
    wanted = [
        (entry_id, a.key, amount.amount) for entry_id, lines in entries for a, amount in lines
    ]
    posted = sql.insert_postings_by_key(wanted)
    if len(posted) == len(wanted):
        return
    ids = _resolve({account.key: account for _, lines in entries for account, _ in lines})
    done = set(posted)
    sql.insert_postings_of(
        [
            (entry_id, ids[a.key], amount.amount)
            for entry_id, lines in entries
            for a, amount in lines
            if (entry_id, ids[a.key]) not in done
        ]
    )


def mirror(entry: JournalEntry) -> list[tuple[LedgerAccount, Money]]:
    """The lines that exactly undo ``entry`` (for reversals and recalls)."""
    return [
        (p.ledger_account, Money(-p.amount, p.ledger_account.currency))
        for p in entry.postings.select_related("ledger_account")
    ]


def _actor_columns(actor: Any) -> dict[str, Any]:
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = user.get_username() if user is not None else str(actor or "system")
    return {"actor": user, "actor_label": label}


def _resolve(refs: dict[str, LedgerAccount]) -> dict[str, int]:
    """Ledger account id by key (stand-ins in one query); accounts used first now are opened.

    No ledger row is locked yet, so opening one never takes a lock out of key order.
    """
    ids = {key: account.pk for key, account in refs.items() if account.pk is not None}
    if wanted := [key for key in refs if key not in ids]:
        ids.update(sql.ids_by_key(wanted))
        if missing := sorted(refs.keys() - ids.keys()):
            chart.open_all([refs[key] for key in missing])
            ids.update(sql.ids_by_key(missing))
    return ids


def _deltas(lines: Iterable[tuple[LedgerAccount, Money]]) -> dict[str, Decimal]:
    """How much each ledger account (by key) moves."""
    deltas: dict[str, Decimal] = {}
    for account, amount in lines:
        deltas[account.key] = deltas.get(account.key, Decimal(0)) + amount.amount
    return deltas


def _below_floor(
    balances: dict[str, Decimal], deltas: dict[str, Decimal], floors: dict[str, Decimal]
) -> str | None:
    """Why a falling balance (as moved) went below its floor, if one did."""
    for key, floor in floors.items():
        if key in deltas and deltas[key] < 0 and balances[key] < floor:
            return _("%(account)s would fall below %(floor)s (change %(change)s)") % {
                "account": key,
                "floor": floor,
                "change": deltas[key],
            }
    return None


def _replay(
    key: str, kind: str, lines: Sequence[tuple[LedgerAccount, Money]]
) -> JournalEntry | None:
    """The entry already posted under ``key``, if its content matches this call."""
    entry = JournalEntry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    wanted = sorted((account.key, amount.amount) for account, amount in lines)
    stored = sorted(entry.postings.values_list("ledger_account__key", "amount"))
    if entry.kind != kind or wanted != stored:
        raise IdempotencyConflict(
            _("idempotency key %(key)s was used for a different %(kind)s entry #%(entry)s")
            % {"key": repr(key), "kind": entry.get_kind_display(), "entry": entry.pk}
        )
    return entry
