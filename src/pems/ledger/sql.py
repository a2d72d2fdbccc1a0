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
from functools import cache
from typing import Any

from django.db import connection

from pems.audit.models import OBJECT_REPR_LENGTH, AuditEvent
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
    conn = rows.db()
    sql, lock_first = _move_sql(conn.vendor, len(keys))
    params: list[object] = []
    for name in keys:
        params += [name, _BALANCE.get_db_prep_save(deltas[name], conn)]
    params = [*keys, *params] if lock_first else [*params, *keys]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        moved = cursor.fetchall()
    return {name: _BALANCE.from_db_value(value, None, conn) for name, value in moved}


@cache
def _move_sql(vendor: str, count: int) -> tuple[str, bool]:
    """:func:`move_balances`' statement for ``count`` keys; True if the keys come first."""
    table, key, pk = quote(_ACCOUNTS.db_table), quote(_KEY.column), quote(_ACCOUNTS.pk.column)
    balance = quote(_BALANCE.column)
    cases = " ".join(["WHEN %s THEN %s"] * count)
    add = f"SET {balance} = {balance} + CASE {key} {cases} END"
    if connection.features.has_select_for_no_key_update:
        sql = (
            f"WITH locked AS MATERIALIZED (SELECT {pk} FROM {table}"  # noqa: S608
            f" WHERE {key} IN ({_marks(count)}) ORDER BY {key} FOR NO KEY UPDATE)"
            f" UPDATE {table} {add} FROM locked WHERE {table}.{pk} = locked.{pk}"
            f" RETURNING {table}.{key}, {table}.{balance}"
        )
        return sql, True
    sql = f"UPDATE {table} {add} WHERE {key} IN ({_marks(count)}) RETURNING {key}, {balance}"
    return sql, False


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


def insert_postings_by_key(lines: Sequence[tuple[int, str, Decimal]]) -> list[tuple[int, int]]:
    """One posting per (entry id, ledger-account key, amount) whose account exists, in one INSERT.

    Returns the (entry id, ledger account id) pairs posted; a key with no account
    yet gets no posting, and the caller opens it and posts it by id.
    """
    conn = rows.db()
    params: list[object] = []
    for entry_id, name, amount in lines:
        params += [entry_id, name, _AMOUNT.get_db_prep_save(amount, conn)]
    with conn.cursor() as cursor:
        cursor.execute(_postings_by_key_sql(conn.vendor, len(lines)), params)
        return [(int(entry), int(account)) for entry, account in cursor.fetchall()]


@cache
def _postings_by_key_sql(vendor: str, count: int) -> str:
    meta = Posting._meta
    entry, account, amount = (
        quote(meta.get_field(name).column) for name in ("entry", "ledger_account", "amount")
    )
    table, key, pk = quote(_ACCOUNTS.db_table), quote(_KEY.column), quote(_ACCOUNTS.pk.column)
    values = ", ".join(["(%s, %s, %s)"] * count)
    # VALUES columns are column1, column2 … in both PostgreSQL and SQLite.
    return (
        f"INSERT INTO {quote(meta.db_table)} ({entry}, {account}, {amount})"  # noqa: S608
        f" SELECT line.column1, {table}.{pk}, line.column3 FROM (VALUES {values}) AS line"
        f" JOIN {table} ON {table}.{key} = line.column2 RETURNING {entry}, {account}"
    )


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


#: Stands for the new entry's id in an audit event's text until the statement knows it.
ENTRY_ID = "{entry id}"


def post_entry(
    entry: JournalEntry,
    lines: Sequence[tuple[str, Decimal]],
    deltas: Mapping[str, Decimal],
    event: AuditEvent | None,
) -> tuple[int | None, list[int], dict[str, Decimal]]:
    """PostgreSQL: a new entry, its postings, its audit event and its balances in one statement.

    ``lines`` are (ledger-account key, amount), ``deltas`` what each account
    moves by (their sum by key); ``event`` (if any) is about the
    entry, with :data:`ENTRY_ID` in its ``object_repr`` for the id. Returns the
    entry's id (None when the key was taken: nothing was written), the ledger
    accounts posted to (by id) and the balances moved, key → new balance. The
    balances move only if every line found its ledger account; otherwise the
    caller opens the missing ones, posts their lines and moves the balances
    itself (:func:`insert_postings_of`, :func:`move_balances`), as before.

    Each part as the statements it replaces: ``ON CONFLICT DO NOTHING`` on the
    key, postings joined to their accounts by key, then the rows locked in key
    order (``FOR NO KEY UPDATE``) and moved by ``balance + delta``.
    """
    conn = rows.db()
    keys = sorted(deltas)
    entry_sql, params = rows.insert_statement(entry, unless_taken="idempotency_key")
    for key, amount in lines:
        params += [key, _AMOUNT.get_db_prep_save(amount, conn)]
    if event is not None:
        params += [f.get_db_prep_save(f.pre_save(event, add=True), conn) for f in _event_fields()]
        params += [event.object_repr, ENTRY_ID]
    params += [*keys, len(lines)]
    for key in keys:
        params += [key, _BALANCE.get_db_prep_save(deltas[key], conn)]
    sql = _post_entry_sql(entry_sql, len(lines), len(keys), event is not None)
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    entry_id, posted = found[0][0], found[0][1] or []
    balances = {key: _BALANCE.from_db_value(value, None, conn) for _, _, key, value in found if key}
    return (None if entry_id is None else int(entry_id)), [int(i) for i in posted], balances


def _event_fields() -> list[Any]:
    """The audit event's columns the statement takes as parameters (not the entry's id)."""
    return [
        f
        for f in AuditEvent._meta.concrete_fields
        if not f.primary_key and f.name not in ("object_id", "object_repr")
    ]


@cache
def _post_entry_sql(entry_sql: str, lines: int, keys: int, with_event: bool) -> str:
    accounts, key, pk = quote(_ACCOUNTS.db_table), quote(_KEY.column), quote(_ACCOUNTS.pk.column)
    balance = quote(_BALANCE.column)
    posting = Posting._meta
    entry_col, account_col, amount_col = (
        quote(posting.get_field(name).column) for name in ("entry", "ledger_account", "amount")
    )
    entry_pk = f"new_entry.{quote(JournalEntry._meta.pk.column)}"
    amount_type = _AMOUNT.db_type(connection)
    values = ", ".join([f"(%s, %s::{amount_type})"] * lines)
    parts = [
        f"new_entry AS ({entry_sql})",
        f"line (key, amount) AS (VALUES {values})",
        f"posted AS (INSERT INTO {quote(posting.db_table)} ({entry_col}, {account_col},"  # noqa: S608
        f" {amount_col}) SELECT {entry_pk}, account.{pk}, line.amount FROM new_entry"
        f" CROSS JOIN line JOIN {accounts} AS account ON account.{key} = line.key"
        f" RETURNING {account_col})",
    ]
    if with_event:
        event = AuditEvent._meta
        fields = _event_fields()
        names = [quote(f.column) for f in fields]
        names += [quote(event.get_field(n).column) for n in ("object_id", "object_repr")]
        entry_id = f"{entry_pk}::text"
        parts.append(
            f"audit AS (INSERT INTO {quote(event.db_table)} ({', '.join(names)})"  # noqa: S608
            # Typed: in a SELECT list, unlike VALUES, a parameter does not take its column's type.
            f" SELECT {', '.join(f'CAST(%s AS {f.db_type(connection)})' for f in fields)},"
            f" {entry_id},"
            f" left(replace(%s, %s, {entry_id}), {OBJECT_REPR_LENGTH}) FROM new_entry)"
        )
    cases = " ".join(["WHEN %s THEN %s"] * keys)
    parts += [
        f"locked AS MATERIALIZED (SELECT {pk} FROM {accounts} WHERE {key} IN ({_marks(keys)})"  # noqa: S608
        f" AND (SELECT count(*) FROM posted) = %s ORDER BY {key} FOR NO KEY UPDATE)",
        f"moved AS (UPDATE {accounts} SET {balance} = {balance} + CASE {key} {cases} END"  # noqa: S608
        f" FROM locked WHERE {accounts}.{pk} = locked.{pk}"
        f" RETURNING {accounts}.{key}, {accounts}.{balance})",
    ]
    return (
        f"WITH {', '.join(parts)} SELECT (SELECT {entry_pk} FROM new_entry),"  # noqa: S608
        f" (SELECT array_agg({account_col}) FROM posted), moved.{key}, moved.{balance}"
        " FROM (VALUES (1)) AS one LEFT JOIN moved ON true"
    )


def post_entries(
    entries: Sequence[JournalEntry], lines: Sequence[tuple[str, str, Decimal]]
) -> tuple[dict[str, int], int]:
    """PostgreSQL: several keyed entries, their postings and balances in one statement.

    ``lines`` are (entry's idempotency key, ledger-account key, amount). Returns
    the id of each entry inserted by its key (one whose key was taken is
    skipped, as in :func:`insert_entries`) and how many of the lines' ledger
    accounts do not exist yet.

    - An account missing: nothing is written; the caller opens them first.
    - A key taken: the other entries and their postings are written but no row
      moves; the caller must abandon its transaction.
    - Otherwise every row moves, locked in key order as in :func:`move_balances`.

    One array a column (``unnest``): the statement's text is the same for any
    number of entries, so it is prepared once.
    """
    conn = rows.db()
    fields = _entry_fields()
    params: list[Any] = [
        [entry_key for entry_key, _, _ in lines],
        [key for _, key, _ in lines],
        [_AMOUNT.get_db_prep_save(amount, conn) for _, _, amount in lines],
    ]
    params += [
        [f.get_db_prep_save(f.pre_save(entry, add=True), conn) for entry in entries] for f in fields
    ]
    params.append(len(lines))
    with conn.cursor() as cursor:
        cursor.execute(_post_entries_sql(), params)
        ids, keys, missing = cursor.fetchone()
    return dict(zip(keys or [], map(int, ids or []), strict=True)), int(missing)


def _entry_fields() -> list[Any]:
    return [f for f in JournalEntry._meta.concrete_fields if not f.primary_key]


@cache
def _post_entries_sql() -> str:
    meta, posting = JournalEntry._meta, Posting._meta
    accounts, key, pk = quote(_ACCOUNTS.db_table), quote(_KEY.column), quote(_ACCOUNTS.pk.column)
    balance = quote(_BALANCE.column)
    entry_pk, entry_key = quote(meta.pk.column), quote(meta.get_field("idempotency_key").column)
    entry_col, account_col, amount_col = (
        quote(posting.get_field(name).column) for name in ("entry", "ledger_account", "amount")
    )
    fields = _entry_fields()
    arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    amount_type = _AMOUNT.db_type(connection)
    parts = [
        f"line AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::{amount_type}[])"  # noqa: S608
        " AS line (entry_key, key, amount))",
        f"missing AS (SELECT count(*) AS keys FROM line LEFT JOIN {accounts} AS account"  # noqa: S608
        f" ON account.{key} = line.key WHERE account.{pk} IS NULL)",
        f"new_entry AS (INSERT INTO {quote(meta.db_table)}"  # noqa: S608
        f" ({', '.join(quote(f.column) for f in fields)}) SELECT * FROM unnest({arrays})"
        " WHERE (SELECT keys FROM missing) = 0"
        f" ON CONFLICT ({entry_key}) DO NOTHING RETURNING {entry_pk}, {entry_key})",
        f"posted AS (INSERT INTO {quote(posting.db_table)} ({entry_col}, {account_col},"  # noqa: S608
        f" {amount_col}) SELECT new_entry.{entry_pk}, account.{pk}, line.amount FROM line"
        f" JOIN new_entry ON new_entry.{entry_key} = line.entry_key"
        f" JOIN {accounts} AS account ON account.{key} = line.key RETURNING 1)",
        f"delta AS (SELECT key, sum(amount)::{amount_type} AS amount FROM line GROUP BY key)",  # noqa: S608
        f"locked AS MATERIALIZED (SELECT {pk} FROM {accounts}"  # noqa: S608
        f" WHERE {key} IN (SELECT key FROM delta) AND (SELECT count(*) FROM posted) = %s"
        f" ORDER BY {key} FOR NO KEY UPDATE)",
        f"moved AS (UPDATE {accounts} SET {balance} = {balance} + delta.amount"  # noqa: S608
        f" FROM locked, delta WHERE {accounts}.{pk} = locked.{pk}"
        f" AND {accounts}.{key} = delta.key)",
    ]
    return (
        f"WITH {', '.join(parts)} SELECT (SELECT array_agg({entry_pk} ORDER BY {entry_pk})"  # noqa: S608
        f" FROM new_entry), (SELECT array_agg({entry_key} ORDER BY {entry_pk}) FROM new_entry),"
        " (SELECT keys FROM missing)"
    )
