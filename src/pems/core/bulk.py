"""Many rows updated in one plain statement, where ``QuerySet.bulk_update`` is too slow.

``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and
row: for a settlement chunk (20 cursors, 10 fields) that took 40 ms of Python.
``UPDATE … FROM (VALUES …)`` sends the same values as plain parameters; on
PostgreSQL ``UPDATE … FROM unnest(…)``, an array a column, whose text is the
same for any number of rows (psycopg parses it once and prepares it).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def update_many(rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of saved instances of one model (values prepared as ``save()`` would)."""
    if not rows:
        return
    meta = type(rows[0])._meta
    pk = meta.pk
    assert pk is not None  # noqa: S101 — every model here has one
    columns = [pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns[1:])
    where = f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}"
    values = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns] for row in rows
    ]
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
        names = ", ".join(quote(f.column) for f in columns)
        sql = f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS v({names}) {where}"  # noqa: S608
        params: list[object] = [list(column) for column in zip(*values, strict=True)]
    else:
        # SQLite takes no column list after a subquery's alias: VALUES names them columnN.
        names = ", ".join(f"column{n} AS {quote(f.column)}" for n, f in enumerate(columns, 1))
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        sql = (
            f"UPDATE {table} SET {sets} "  # noqa: S608
            f"FROM (SELECT {names} FROM (VALUES {', '.join([row] * len(rows))}) AS given) AS v "
            f"{where}"
        )
        params = [value for row_values in values for value in row_values]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
