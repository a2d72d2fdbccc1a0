"""Bulk upserts as one SQL statement: ``INSERT … ON CONFLICT …``.

The ORM's ``bulk_create(update_conflicts=True)`` spends most of its time
building model instances and preparing each field, and one huge multi-row
statement makes psycopg re-parse tens of thousands of placeholders; at
100,000 readings a sweep that dominates the collector. On SQLite (≥ 3.24) this
runs one single-row statement with ``executemany``; on PostgreSQL one
statement over ``unnest`` of an array a column. Both from plain tuples, with
each column's value prepared as its field stores it: exact decimals
(FixedPointField) as integer units — refusing a value with more places than
the column — and datetimes and dates through the backend's own adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal

from django.db import connection, models

from pems.core.fields import FixedPointField

Adapter = Callable[[object], object]


def _fixed(places: int) -> Adapter:
    def adapt(value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, Decimal | int):
            raise TypeError(f"exact columns take Decimal or int, not {type(value).__name__}")
        units = Decimal(value).scaleb(places)
        if units != units.to_integral_value():
            raise ValueError(f"{value} has more than {places} decimal places")
        return int(units)

    return adapt


def _moment(value: object) -> object:
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


def _plain(value: object) -> object:
    return value


def adapter(field: models.Field) -> Adapter:  # type: ignore[type-arg]
    """How a value of ``field`` goes to the database driver."""
    if isinstance(field, FixedPointField):
        return _fixed(field.decimal_places)
    if isinstance(field, models.DateField):  # DateTimeField too
        return _moment
    if isinstance(field, models.DecimalField):
        raise TypeError(f"{field.name}: use FixedPointField for exact values")
    return _plain


def upsert(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[object]],
    conflict: Sequence[str],
    update: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (values in ``fields`` order); on a ``conflict`` update ``update`` or skip.

    With ``update``, no two rows may share a conflict key: PostgreSQL refuses to
    update a row twice in one statement.
    """
    if not rows:
        return
    meta = model._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    adapters = [adapter(meta.get_field(name)) for name in fields]
    action = "DO NOTHING"
    if update:
        action = "DO UPDATE SET " + ", ".join(f"{column(n)} = excluded.{column(n)}" for n in update)
    target = ", ".join(column(n) for n in conflict)
    params = [[fn(value) for fn, value in zip(adapters, row, strict=True)] for row in rows]
    names = ", ".join(column(n) for n in fields)
    if connection.vendor == "postgresql":
        # One statement for all the rows, a column an array: a statement trigger fires once
        # (``metering.hour_marks``), and the SQL text is the same whatever the row count.
        types = [meta.get_field(n).db_type(connection) for n in fields]
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608
            f"SELECT * FROM unnest({arrays}) ON CONFLICT ({target}) {action}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(values) for values in zip(*params, strict=True)])
        return
    values = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # Identifiers come from model metadata (quoted); every value is a bound parameter.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608
        f"VALUES {values} ON CONFLICT ({target}) {action}"
    )
    # One statement, many rows: parsed once (sqlite3 loops in C).
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
