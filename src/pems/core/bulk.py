"""Many rows updated in one plain statement, where ``QuerySet.bulk_update`` is too slow.

``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and
row: for a settlement chunk (20 cursors, 10 fields) that took 40 ms of Python.
``UPDATE … FROM (VALUES …)`` sends the same values as plain parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def update_many(rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write ``fields`` of saved instances of one model (values prepared as ``save()`` would)."""
    if not rows:
        return
    meta = type(rows[0])._meta
    chosen = [meta.get_field(name) for name in fields]
    pk = meta.pk
    assert pk is not None  # noqa: S101 — every model here has one
    quote = connection.ops.quote_name
    # PostgreSQL types a VALUES list by its first row (a NULL there would be text): cast.
    marks = ", ".join(
        f"CAST(%s AS {f.db_type(connection)})" if connection.vendor == "postgresql" else "%s"
        for f in [pk, *chosen]
    )
    # SQLite takes no column list after a subquery's alias; both name VALUES' columns columnN.
    names = ", ".join(f"column{n} AS {quote(f.column)}" for n, f in enumerate([pk, *chosen], 1))
    sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in chosen)
    values = ", ".join([f"({marks})"] * len(rows))
    table = quote(meta.db_table)
    sql = (
        f"UPDATE {table} SET {sets} "  # noqa: S608
        f"FROM (SELECT {names} FROM (VALUES {values}) AS given) AS v "
        f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    params = [
        f.get_db_prep_save(getattr(row, f.attname), connection)
        for row in rows
        for f in [pk, *chosen]
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
