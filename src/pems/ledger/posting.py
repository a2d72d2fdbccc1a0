"""Posting journal entries: the only code that changes a ledger balance.

One call = one database transaction: the ledger accounts are locked in key
order (no deadlocks between concurrent posters), the entry and its postings
are inserted, and each cached balance moves by an ``F()`` update — never
read, decided and written back. An idempotency key makes a repeated call
return the first entry instead of posting twice.

Lock order, everywhere: the tenant ``Account`` row first (actions do this),
then ledger accounts by key (``post`` does this), always as ``FOR NO KEY
UPDATE`` so inserting rows that reference them never waits on the lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, F, When

from pems.audit.log import record
from pems.core.fields import units_value
from pems.domain.ledger import Line, check_entry
from pems.domain.money import Money
from pems.ledger.models import JournalEntry, LedgerAccount, Posting

_BALANCE = LedgerAccount._meta.get_field("balance")


class LedgerError(Exception):
    """A posting was refused; the message says why. Nothing was written."""


class InsufficientBalance(LedgerError):
    """The entry would take an account below the floor it must keep."""


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different entry."""


@dataclass(frozen=True)
class Posted:
    """The entry a call produced, and whether this call created it."""

    entry: JournalEntry
    created: bool


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
    floors: dict[int, Decimal] | None = None,
) -> Posted:
    """Post one balanced entry; ``floors`` maps ledger account id → lowest allowed balance."""
    check_entry([Line(account.key, amount) for account, amount in lines])
    try:
        with transaction.atomic():
            # The entry first: a replayed key fails here, before any balance is judged.
            entry = _insert_entry(
                site_id, kind, actor, reason, account_id, idempotency_key, reverses, memo
            )
            _move_balances(lines, floors or {})
            _insert_postings(entry, lines, actor, reason)
    except IntegrityError:
        # The key was used before (a replay, or a concurrent call that won): answer
        # with that entry. The savepoint above keeps the caller's transaction usable.
        if idempotency_key is not None and (found := _replay(idempotency_key, kind, lines)):
            return Posted(found, created=False)
        raise
    return Posted(entry, created=True)


def mirror(entry: JournalEntry) -> list[tuple[LedgerAccount, Money]]:
    """The lines that exactly undo ``entry`` (for reversals and recalls)."""
    return [
        (p.ledger_account, Money(-p.amount, p.ledger_account.currency))
        for p in entry.postings.select_related("ledger_account")
    ]


def _insert_entry(
    site_id: int,
    kind: str,
    actor: Any,
    reason: str,
    account_id: int | None,
    idempotency_key: str | None,
    reverses: JournalEntry | None,
    memo: dict[str, Any] | None,
) -> JournalEntry:
    user = actor if getattr(actor, "is_authenticated", False) else None
    return JournalEntry.objects.create(
        site_id=site_id,
        account_id=account_id,
        kind=kind,
        actor=user,
        actor_label=user.get_username() if user is not None else str(actor or "system"),
        reason=reason,
        idempotency_key=idempotency_key,
        reverses=reverses,
        memo=memo or {},
    )


def _insert_postings(
    entry: JournalEntry, lines: Sequence[tuple[LedgerAccount, Money]], actor: Any, reason: str
) -> None:
    Posting.objects.bulk_create(
        Posting(entry=entry, ledger_account=account, amount=amount.amount)
        for account, amount in lines
    )
    if entry.actor_id is not None or reason:
        record(
            actor,
            f"ledger.{entry.kind}",
            entry,
            {account.key: str(amount.amount) for account, amount in lines},
            reason,
        )


def _move_balances(
    lines: Sequence[tuple[LedgerAccount, Money]], floors: dict[int, Decimal]
) -> None:
    deltas: dict[int, Decimal] = {}
    for account, amount in lines:
        deltas[account.pk] = deltas.get(account.pk, Decimal(0)) + amount.amount
    # Lock in a fixed order so two entries touching the same accounts never deadlock;
    # NO KEY locks never wait on (or block) the KEY SHARE locks of FK checks.
    locked = list(
        LedgerAccount.objects.select_for_update(no_key=True).filter(pk__in=deltas).order_by("key")
    )
    # Judged on the locked rows: no other transaction can move them until commit.
    floored = [a for a in locked if a.pk in floors and deltas[a.pk] < 0]
    for account in floored:
        if account.balance + deltas[account.pk] < floors[account.pk]:
            raise InsufficientBalance(
                f"{account.key} would fall below {floors[account.pk]} (change {deltas[account.pk]})"
            )
    # One UPDATE for every account of the entry; the rows are locked above.
    LedgerAccount.objects.filter(pk__in=deltas).update(
        balance=F("balance")
        + Case(
            *(When(pk=pk, then=units_value(_BALANCE, delta)) for pk, delta in deltas.items()),
            output_field=_BALANCE,
        )
    )


def _replay(
    key: str, kind: str, lines: Sequence[tuple[LedgerAccount, Money]]
) -> JournalEntry | None:
    """The entry already posted under ``key``, if its content matches this call."""
    entry = JournalEntry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    wanted = sorted((account.pk, amount.amount) for account, amount in lines)
    stored = sorted(entry.postings.values_list("ledger_account_id", "amount"))
    if entry.kind != kind or wanted != stored:
        raise IdempotencyConflict(
            f"idempotency key {key!r} was used for a different {entry.kind} entry #{entry.pk}"
        )
    return entry
