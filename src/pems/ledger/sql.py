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

from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.db import connection

from pems.core import rows
from pems.core.rows import quote
from pems.ledger.models import JournalEntry, LedgerAccount, Posting

_ACCOUNTS = LedgerAccount._meta
_KEY = _ACCOUNTS.get_field("key")
_BALANCE = _ACCOUNTS.get_field("balance")
_AMOUNT = Posting._meta.get_field("amount")


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def ids_by_key(keys: Sequence[str]) -> dict[str, int]:
    """Ledger account id by key for those of ``keys`` that exist (no lock)."""
    key, pk = quote(_KEY.column), quote(_ACCOUNTS.pk.column)
    sql = (
        f"SELECT {key}, {pk} FROM {quote(_ACCOUNTS.db_table)}"  # noqa: S608
        f" WHERE {key} IN ({_marks(len(keys))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(keys))
        return dict(cursor.fetchall())


def move_balances(deltas: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Lock the rows with these keys in key order and add each delta; key → new balance.

    One statement. On PostgreSQL a materialised CTE takes the locks (``FOR NO
    KEY UPDATE``, which never waits on or blocks the KEY SHARE locks of
    foreign-key checks) in key order, so concurrent posters cannot deadlock,
    and ``balance = balance + delta`` applies to the latest committed row.
    SQLite has no row locks: its IMMEDIATE transactions queue writers.
    """
    keys = sorted(deltas)
    table, key, pk = quote(_ACCOUNTS.db_table), quote(_KEY.column), quote(_ACCOUNTS.pk.column)
    balance = quote(_BALANCE.column)
    cases = " ".join(["WHEN %s THEN %s"] * len(keys))
    params: list[object] = []
    for name in keys:
        params += [name, _BALANCE.get_db_prep_save(deltas[name], connection)]
    add = f"SET {balance} = {balance} + CASE {key} {cases} END"
    if connection.features.has_select_for_no_key_update:
        sql = (
            f"WITH locked AS MATERIALIZED (SELECT {pk} FROM {table}"  # noqa: S608
            f" WHERE {key} IN ({_marks(len(keys))}) ORDER BY {key} FOR NO KEY UPDATE)"
            f" UPDATE {table} {add} FROM locked WHERE {table}.{pk} = locked.{pk}"
            f" RETURNING {table}.{key}, {table}.{balance}"
        )
        params = [*keys, *params]
    else:
        sql = (
            f"UPDATE {table} {add} WHERE {key} IN ({_marks(len(keys))}) RETURNING {key}, {balance}"
        )
        params = [*params, *keys]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {name: _BALANCE.from_db_value(value, None, connection) for name, value in rows}


def insert_entries(entries: Sequence[JournalEntry]) -> dict[str, int]:
    """INSERT several keyed entries in one statement; id by idempotency key of those inserted.

    An entry whose key is taken is skipped (``ON CONFLICT DO NOTHING``), so the
    caller sees which were not inserted by their absence.
    """
    meta = JournalEntry._meta
    columns = [f for f in meta.concrete_fields if not f.primary_key]
    rows = ", ".join([f"({_marks(len(columns))})"] * len(entries))
    key = quote(meta.get_field("idempotency_key").column)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)})"  # noqa: S608
        f" VALUES {rows} ON CONFLICT ({key}) DO NOTHING RETURNING {quote(meta.pk.column)}, {key}"
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
    return rows.insert(entry, unless_taken="idempotency_key")


def insert_postings_by_key(entry_id: int, lines: Sequence[tuple[str, Decimal]]) -> list[int]:
    """One posting per (ledger-account key, amount) whose account exists, in one INSERT.

    Returns the ledger account ids posted to; a key with no account yet gets no
    posting, and the caller opens it and posts it by id.
    """
    meta = Posting._meta
    columns = ", ".join(
        quote(meta.get_field(name).column) for name in ("entry", "ledger_account", "amount")
    )
    table, key, pk = quote(_ACCOUNTS.db_table), quote(_KEY.column), quote(_ACCOUNTS.pk.column)
    account = quote(meta.get_field("ledger_account").column)
    rows = ", ".join(["(%s, %s)"] * len(lines))
    params: list[object] = [entry_id]
    for name, amount in lines:
        params += [name, _AMOUNT.get_db_prep_save(amount, connection)]
    # VALUES columns are column1, column2 … in both PostgreSQL and SQLite.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns})"  # noqa: S608
        f" SELECT %s, {table}.{pk}, line.column2 FROM (VALUES {rows}) AS line"
        f" JOIN {table} ON {table}.{key} = line.column1 RETURNING {account}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [int(row[0]) for row in cursor.fetchall()]


def insert_postings_of(lines: Sequence[tuple[int, int, Decimal]]) -> None:
    """One posting per (entry id, ledger account id, amount), in one INSERT."""
    meta = Posting._meta
    columns = ", ".join(
        quote(meta.get_field(name).column) for name in ("entry", "ledger_account", "amount")
    )
    rows = ", ".join(["(%s, %s, %s)"] * len(lines))
    params: list[object] = []
    for entry_id, account_id, amount in lines:
        params += [entry_id, account_id, _AMOUNT.get_db_prep_save(amount, connection)]
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {rows}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
