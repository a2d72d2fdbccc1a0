"""Rows of hand-written SQL read back as the ORM would read them.

Hot paths (a cashier's sale) write a few fixed-shape reads in SQL because the
ORM spends more time compiling them than the database spends answering
(docs/benchmarks.md). These helpers keep the values honest: each column goes
through the backend's and the field's own converters (SQLite's text
datetimes, integer booleans, fixed-point integers back to Decimal), and
model instances are built with ``Model.from_db``, the ORM's own constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

Converter = Callable[[Any], Any]

# Parameters one statement may carry: SQLite's default limit (since 3.32), under
# PostgreSQL's 65,535 for a statement bound server-side (settings.py prepares them).
MAX_PARAMETERS = 32_766
#: Values of one ``field__in=`` list; a whole large site's ids are split into lists this long.
IN_LIST = 10_000


def in_lists(values: Iterable[Any], size: int = IN_LIST) -> Iterator[list[Any]]:
    """``values`` in lists of at most ``size``, each to go in one ``__in=`` lookup."""
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def db() -> BaseDatabaseWrapper:
    """The default connection itself, not the ``django.db.connection`` proxy.

    Each attribute read through the proxy is a thread-local look-up, and
    preparing a row's values reads the connection a few times per field.
    """
    return connections[DEFAULT_DB_ALIAS]


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def column(field: models.Field, alias: str) -> str:  # type: ignore[type-arg]
    """``alias."column"`` of ``field``."""
    return f"{quote(alias)}.{quote(field.column)}"


def col(model: type[models.Model], name: str, alias: str | None = None) -> str:
    """The column of ``model``'s field ``name``: ``alias."column"``, or bare without an alias."""
    field = model._meta.get_field(name)
    return column(field, alias) if alias else quote(field.column)  # type: ignore[arg-type]


def table(model: type[models.Model], alias: str | None = None) -> str:
    """``model``'s table, quoted, ``AS alias`` when one is given."""
    name = quote(model._meta.db_table)
    return f"{name} AS {quote(alias)}" if alias else name


def converter(field: models.Field) -> Converter:  # type: ignore[type-arg]
    """The function the ORM applies to a database value of ``field``."""
    expression = field.get_col(field.model._meta.db_table)
    steps = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)

    def convert(value: Any) -> Any:
        for step in steps:
            value = step(value, expression, connection)
        return value

    return convert


class Selection:
    """Fields of a model (all, or ``names`` in that order) as a SELECT list under an alias."""

    def __init__(
        self,
        model: type[models.Model],
        alias: str,
        names: Sequence[str] | None = None,
    ) -> None:
        meta = model._meta
        self.model = model
        self.fields = (
            list(meta.concrete_fields) if names is None else [meta.get_field(n) for n in names]
        )
        self.sql = ", ".join(column(f, alias) for f in self.fields)
        self._convert = [converter(f) for f in self.fields]

    def __len__(self) -> int:
        return len(self.fields)

    def values(self, raw: Sequence[Any]) -> list[Any]:
        return [convert(value) for convert, value in zip(self._convert, raw, strict=True)]

    def instance(self, raw: Sequence[Any]) -> models.Model:
        """A model instance from these columns (fields not selected load on first use)."""
        return self.model.from_db(
            connection.alias, [f.attname for f in self.fields], self.values(raw)
        )


#: A column the INSERT itself computes: (field name, SQL expression, the expression's params).
Computed = tuple[str, str, Sequence[Any]]


def insert(
    instance: models.Model, unless_taken: str | None = None, computed: Computed | None = None
) -> int | None:
    """INSERT an unsaved instance as ``save()`` would, and mark it saved; its new id.

    ``unless_taken`` names a unique field: if its value is taken the row is not
    inserted (``ON CONFLICT DO NOTHING``) and None is returned. ``computed``
    names a field whose value the database works out in the same statement
    (an expression over scalar subqueries); the value stored is set on the
    instance. Model ``save()`` overrides and signals do not run, so use it only
    for models that have none that matter here (append-only rows, queued
    commands).
    """
    name, expression, extra = computed or ("", "", ())
    conn = db()
    sql, fields, convert = _insert_sql(type(instance), unless_taken, name, expression, conn.vendor)
    params: list[Any] = []
    for f in fields:
        if f.name == name:
            params += extra
        else:
            params.append(f.get_db_prep_save(f.pre_save(instance, add=True), conn))
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if name:
        setattr(instance, instance._meta.get_field(name).attname, convert(row[1]))
    saved(instance, int(row[0]))
    return instance.pk


def insert_statement(
    instance: models.Model, unless_taken: str | None = None
) -> tuple[str, list[Any]]:
    """The INSERT :func:`insert` runs for ``instance`` (``RETURNING`` its id) and its params,
    for a caller that embeds it in a larger statement (a CTE) and marks the instance saved."""
    conn = db()
    sql, fields, _convert = _insert_sql(type(instance), unless_taken, "", "", conn.vendor)
    return sql, [f.get_db_prep_save(f.pre_save(instance, add=True), conn) for f in fields]


def saved(instance: models.Model, pk: int) -> None:
    """Mark ``instance`` as the stored row ``pk``, as ``save()`` would have."""
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = db().alias


@cache
def _insert_sql(
    model: type[models.Model], unless_taken: str | None, computed: str, expression: str, vendor: str
) -> tuple[str, list[models.Field], Converter]:  # type: ignore[type-arg]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = ", ".join(f"({expression})" if f.name == computed else "%s" for f in fields)
    conflict = (
        f" ON CONFLICT ({quote(meta.get_field(unless_taken).column)}) DO NOTHING"
        if unless_taken
        else ""
    )
    returning = quote(meta.pk.column)
    convert: Converter = lambda value: value  # noqa: E731
    if computed:
        field = meta.get_field(computed)
        returning += f", {quote(field.column)}"  # type: ignore[union-attr]
        convert = converter(field)  # type: ignore[arg-type]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"  # noqa: S608
        f" VALUES ({values}){conflict} RETURNING {returning}"
    )
    return sql, fields, convert


def insert_many(instances: Sequence[models.Model]) -> None:
    """INSERT unsaved instances of one model in one statement, as ``save()`` would each.

    Their ids are not read back (the order of ``RETURNING`` rows is not
    promised), so use it only for rows nobody looks up by the instance again.
    """
    conn = db()
    model = type(instances[0])
    width = len([f for f in model._meta.concrete_fields if not f.primary_key])
    most = max(1, MAX_PARAMETERS // width)
    with conn.cursor() as cursor:
        for start in range(0, len(instances), most):
            chunk = instances[start : start + most]
            sql, fields = _insert_many_sql(model, len(chunk), conn.vendor)
            params = [
                f.get_db_prep_save(f.pre_save(instance, add=True), conn)
                for instance in chunk
                for f in fields
            ]
            cursor.execute(sql, params)


@cache
def _insert_many_sql(
    model: type[models.Model], count: int, vendor: str
) -> tuple[str, list[models.Field]]:  # type: ignore[type-arg]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"  # noqa: S608
        f" VALUES {', '.join([row] * count)}"
    )
    return sql, fields


def update(model: type[models.Model], pk: int, **values: Any) -> None:
    """``UPDATE … SET field = value … WHERE pk = pk``, each value prepared by its field."""
    conn = db()
    sql, fields = _update_sql(model, tuple(values), conn.vendor)
    params = [f.get_db_prep_save(values[f.name], conn) for f in fields]
    with conn.cursor() as cursor:
        cursor.execute(sql, [*params, pk])


@cache
def _update_sql(
    model: type[models.Model], names: tuple[str, ...], vendor: str
) -> tuple[str, list[models.Field]]:  # type: ignore[type-arg]
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)  # type: ignore[union-attr]
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    return sql, fields  # type: ignore[return-value]
