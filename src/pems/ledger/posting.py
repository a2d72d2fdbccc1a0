"""Posting journal entries: the only code that changes a ledger balance.

One call = one database transaction: the ledger accounts are locked in key
order (no deadlocks between concurrent posters), the entry and its postings
are inserted, and each cached balance moves by an ``F()`` update — never
read, decided and written back. An idempotency key makes a repeated call
return the first entry instead of posting twice.

Lock order, everywhere: the tenant ``Account`` row first (actions do this),
then ledger accounts by key (``post`` does this), always as ``FOR NO KEY
UPDATE`` so inserting rows that reference them never waits on the lock.

Every refusal (``LedgerError``) comes before the first write, so a refused
call leaves the caller's transaction untouched without a savepoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from pems.audit.log import record
from pems.domain.ledger import Line, check_entry
from pems.domain.money import Money
from pems.ledger import chart, sql
from pems.ledger.models import JournalEntry, LedgerAccount

#: Keys of ledger accounts known to exist (remembered once a transaction that
#: used them commits). Rows are never deleted or renamed, so a remembered key
#: stays true; a key that is gone anyway (a restored database) is re-opened.
_EXISTING: set[str] = set()


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
    after this entry, in the posting transaction (empty for a replay).
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

    A line's account is a stored row or a chart stand-in (``chart.wallet_ref`` …):
    both are found by key in the statement that locks them.
    """
    check_entry([Line(account.key, amount) for account, amount in lines])
    deltas: dict[str, Decimal] = {}
    for account, amount in lines:
        deltas[account.key] = deltas.get(account.key, Decimal(0)) + amount.amount
    with transaction.atomic(savepoint=False):
        locked = _lock({account.key: account for account, _ in lines})
        # Judged on the locked rows: no other transaction can move them until commit.
        if short := _below_floor(locked, deltas, floors or {}):
            if idempotency_key is not None and (found := _replay(idempotency_key, kind, lines)):
                return Posted(found, created=False)
            raise InsufficientBalance(short)
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
        entry_id = sql.insert_entry(entry)
        if entry_id is None:  # the key was used before: a replay, or a concurrent call that won
            found = _replay(idempotency_key, kind, lines) if idempotency_key else None
            if found is None:
                raise LedgerError(f"idempotency key {idempotency_key!r} is taken but not found")
            return Posted(found, created=False)
        _saved(entry, entry_id)
        sql.add_to_balances({locked[key].pk: delta for key, delta in deltas.items()})
        sql.insert_postings(entry_id, [(locked[a.key].pk, amount.amount) for a, amount in lines])
        if entry.actor_id is not None or reason:
            record(
                actor,
                f"ledger.{entry.kind}",
                entry,
                {account.key: str(amount.amount) for account, amount in lines},
                reason,
            )
    return Posted(
        entry, created=True, balances={k: locked[k].balance + d for k, d in deltas.items()}
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


def _saved(entry: JournalEntry, pk: int) -> None:
    """Mark ``entry`` as the stored row ``pk``, as ``save()`` would have."""
    entry.pk = pk
    entry._state.adding = False
    entry._state.db = connection.alias


def _lock(refs: dict[str, LedgerAccount]) -> dict[str, sql.Row]:
    """Lock the entry's ledger accounts in key order, opening first uses; key → locked row."""
    keys = sorted(refs)
    if not _EXISTING.issuperset(keys):
        # Opened before any ledger lock is taken, so locks are only ever taken in key order.
        for key in keys:
            if refs[key].pk is None:
                chart.opened(refs[key])
        transaction.on_commit(lambda: _EXISTING.update(keys))
    locked = sql.lock_by_key(keys)
    if len(locked) < len(keys):  # a remembered key is gone (a restored database): re-open
        _EXISTING.difference_update(keys)
        for key in keys:
            if key not in locked:
                chart.opened(refs[key])
        locked = sql.lock_by_key(keys)
    return locked


def _below_floor(
    locked: dict[str, sql.Row], deltas: dict[str, Decimal], floors: dict[str, Decimal]
) -> str | None:
    for key, floor in floors.items():
        if key in deltas and deltas[key] < 0 and locked[key].balance + deltas[key] < floor:
            return f"{key} would fall below {floor} (change {deltas[key]})"
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
            f"idempotency key {key!r} was used for a different {entry.kind} entry #{entry.pk}"
        )
    return entry
