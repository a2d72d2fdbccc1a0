"""The statements of the posting path, written out in SQL.

Posting runs in every sale. For these small fixed-shape statements the ORM
spends 4–7 times the statement's own cost compiling it and building model
instances (docs/benchmarks.md, "Prepaid core"), so they are written here
once, for PostgreSQL and SQLite (≥ 3.35: ``ON CONFLICT``, ``RETURNING``).
Identifiers come from model metadata (quoted); every value is a bound
parameter, passed through its model field, so money stays integer minor
units. Only :mod:`pems.ledger.posting` calls these, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from django.db import connection

from pems.ledger.models import JournalEntry, LedgerAccount, Posting

_ACCOUNTS = LedgerAccount._meta
_KEY = _ACCOUNTS.get_field("key")
_BALANCE = _ACCOUNTS.get_field("balance")
_AMOUNT = Posting._meta.get_field("amount")


class Row(NamedTuple):
    """A locked ledger account: what posting needs of it."""

    pk: int
    balance: Decimal


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def ids_by_key(keys: Sequence[str]) -> dict[str, int]:
    """Ledger account id by key for those of ``keys`` that exist (no lock)."""
    key, pk = _q(_KEY.column), _q(_ACCOUNTS.pk.column)
    sql = (
        f"SELECT {key}, {pk} FROM {_q(_ACCOUNTS.db_table)}"  # noqa: S608
        f" WHERE {key} IN ({_marks(len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(keys))
        return dict(cursor.fetchall())


def lock_by_key(keys: Sequence[str]) -> dict[str, Row]:
    """Lock the rows with these keys in key order (``FOR NO KEY UPDATE``); key → row.

    NO KEY locks never wait on (or block) the KEY SHARE locks of foreign-key
    checks. SQLite has no row locks: its IMMEDIATE transactions queue writers.
    """
    features = connection.features
    lock = (
        " FOR NO KEY UPDATE"
        if features.has_select_for_no_key_update
        else " FOR UPDATE"
        if features.has_select_for_update
        else ""
    )
    key, pk, balance = _q(_KEY.column), _q(_ACCOUNTS.pk.column), _q(_BALANCE.column)
    sql = (
        f"SELECT {key}, {pk}, {balance} FROM {_q(_ACCOUNTS.db_table)}"  # noqa: S608
        f" WHERE {key} IN ({_marks(len(keys))}) ORDER BY {key}{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(keys))
        rows = cursor.fetchall()
    return {k: Row(p, _BALANCE.from_db_value(b, None, connection)) for k, p, b in rows}


def insert_entries(entries: Sequence[JournalEntry]) -> dict[str, int]:
    """INSERT several keyed entries in one statement; id by idempotency key of those inserted.

    An entry whose key is taken is skipped (``ON CONFLICT DO NOTHING``), so the
    caller sees which were not inserted by their absence.
    """
    meta = JournalEntry._meta
    columns = [f for f in meta.concrete_fields if not f.primary_key]
    rows = ", ".join([f"({_marks(len(columns))})"] * len(entries))
    key = _q(meta.get_field("idempotency_key").column)
    sql = (
        f"INSERT INTO {_q(meta.db_table)} ({', '.join(_q(f.column) for f in columns)})"  # noqa: S608
        f" VALUES {rows} ON CONFLICT ({key}) DO NOTHING RETURNING {_q(meta.pk.column)}, {key}"
    )
    params = [
        f.get_db_prep_save(f.pre_save(entry, add=True), connection)
        for entry in entries
        for f in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {str(k): int(pk) for pk, k in cursor.fetchall()}


def insert_entry(entry: JournalEntry) -> int | None:
    """INSERT the entry unless its idempotency key is taken; its new id, else None.

    ``ON CONFLICT DO NOTHING`` on the key: a replay costs no savepoint and
    writes nothing, and an insert racing one with the same key waits for that
    transaction to end, then sees its row.
    """
    meta = JournalEntry._meta
    columns = [f for f in meta.concrete_fields if not f.primary_key]
    sql = (
        f"INSERT INTO {_q(meta.db_table)} ({', '.join(_q(f.column) for f in columns)})"  # noqa: S608
        f" VALUES ({_marks(len(columns))})"
        f" ON CONFLICT ({_q(meta.get_field('idempotency_key').column)}) DO NOTHING"
        f" RETURNING {_q(meta.pk.column)}"
    )
    params = [f.get_db_prep_save(f.pre_save(entry, add=True), connection) for f in columns]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def add_to_balances(deltas: dict[int, Decimal]) -> None:
    """``balance = balance + delta`` for each ledger account id, in one UPDATE."""
    pk, balance = _q(_ACCOUNTS.pk.column), _q(_BALANCE.column)
    cases = " ".join(["WHEN %s THEN %s"] * len(deltas))
    sql = (
        f"UPDATE {_q(_ACCOUNTS.db_table)} SET {balance} = {balance} + CASE {pk} {cases} END"  # noqa: S608
        f" WHERE {pk} IN ({_marks(len(deltas))})"
    )
    params: list[object] = []
    for account_id, delta in deltas.items():
        params += [account_id, _BALANCE.get_db_prep_save(delta, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *deltas])


def insert_postings(entry_id: int, lines: Sequence[tuple[int, Decimal]]) -> None:
    """One posting per (ledger account id, amount), in one INSERT."""
    insert_postings_of([(entry_id, account_id, amount) for account_id, amount in lines])


def insert_postings_of(lines: Sequence[tuple[int, int, Decimal]]) -> None:
    """One posting per (entry id, ledger account id, amount), in one INSERT."""
    meta = Posting._meta
    columns = ", ".join(
        _q(meta.get_field(name).column) for name in ("entry", "ledger_account", "amount")
    )
    rows = ", ".join(["(%s, %s, %s)"] * len(lines))
    params: list[object] = []
    for entry_id, account_id, amount in lines:
        params += [entry_id, account_id, _AMOUNT.get_db_prep_save(amount, connection)]
    sql = f"INSERT INTO {_q(meta.db_table)} ({columns}) VALUES {rows}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
