"""A long query's rows as PostgreSQL produces them, read on a connection of their own.

Settlement's walk over a backlog (``billing.marks_sql``) keeps one PostgreSQL
core busy for most of a second after its first points' rows are ready. Read
here by a thread of its own, those rows reach the caller while the database
still works on the rest, and the caller charges their points on its own
connection meanwhile: Python and PostgreSQL run side by side on two cores
instead of taking turns. (PostgreSQL sends rows as its 8 kB output buffer
fills: narrow rows come in batches, the walk's every few points.)

The thread's connection sees only what is committed. Stream only a query whose
answer cannot be wrong without the caller's uncommitted writes (the walk, not
finding a point's marks, refuses the point, which is then priced another way).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import psycopg
from django.db import connection, transaction

Row = tuple[Any, ...]

_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def row_runs(
    sql: str, params: Mapping[str, object], settings: Mapping[str, str]
) -> Iterator[list[Row]]:
    """The rows of ``sql``, ordered by its first column, a run of rows with the same first
    column at a time, as PostgreSQL produces them; ``settings`` hold for its transaction.

    An error of the query is raised here. A caller that stops early cancels it.
    """
    runs: queue.Queue[object] = queue.Queue()
    reading: list[psycopg.Connection[Any]] = []  # the thread's connection, to cancel it
    thread = threading.Thread(
        target=_read, args=(sql, params, settings, runs, reading), name="pems-row-runs"
    )
    thread.start()
    try:
        while (item := runs.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        if thread.is_alive() and reading:
            with contextlib.suppress(psycopg.Error):  # closed meanwhile: nothing left to cancel
                reading[0].cancel_safe()
        thread.join()


def _read(
    sql: str,
    params: Mapping[str, object],
    settings: Mapping[str, str],
    runs: queue.Queue[object],
    reading: list[psycopg.Connection[Any]],
) -> None:
    """The thread: the query on this thread's own connection, its rows put in runs."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for name, value in settings.items():
                cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
            reading.append(connection.connection)
            run: list[Row] = []
            with psycopg.Cursor(connection.connection) as binary:  # binary: no text parsing
                for row in binary.stream(sql, params, binary=True):
                    if run and row[0] != run[0][0]:
                        runs.put(run)
                        run = []
                    run.append(row)
            if run:
                runs.put(run)
    except BaseException as error:  # raised again in the caller's thread
        runs.put(_Failed(error))
    finally:
        connection.close()  # this thread's: it ends here
        runs.put(_END)
