"""A backlog's first points are charged while PostgreSQL still walks the rest.

``core.streamed.row_runs`` reads a query's rows on a thread and a connection of
their own, a point's rows at a time; ``lines_sql.lines_as_read`` streams the
walk over the hour marks through it, and ``settle_many.prefetch_and_settle``
(what the settle job runs) charges each chunk of points as soon as its lines
are in. The lines must be the very ones the walk read at once gives.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import psycopg
import pytest
from django.db import OperationalError, connection

from pems.accounts.actions import balance
from pems.billing import lines_sql
from pems.billing.jobs import settle_due
from pems.billing.lines_sql import Due, lines_as_read, points_lines
from pems.billing.models import SettlementCursor
from pems.billing.settle_many import prefetch_and_settle
from pems.core import streamed
from pems.core.streamed import row_runs
from pems.domain.segments import cut_points
from pems.metering.models import IntervalReading, PointState
from tests.billing.scenarios import T0, server_side_tenant
from tests.domain.test_properties import TARIFFS
from tests.factories import MeteringPointFactory, SiteFactory
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's walk, on a connection of its own"
)
QUARTER = dt.timedelta(minutes=15)


@pytest.mark.django_db
def test_rows_come_a_first_column_at_a_time_in_order():
    sql = "SELECT g / 3, g FROM generate_series(0, 7) g ORDER BY 1, 2"
    assert list(row_runs(sql, {}, {})) == [
        [(0, 0), (0, 1), (0, 2)],
        [(1, 3), (1, 4), (1, 5)],
        [(2, 6), (2, 7)],
    ]


@pytest.mark.django_db
def test_the_settings_hold_for_the_query_alone():
    assert list(row_runs("SELECT 1, current_setting('work_mem')", {}, {"work_mem": "7MB"})) == [
        [(1, "7MB")]
    ]
    with connection.cursor() as cursor:  # the caller's own connection is untouched
        cursor.execute("SHOW work_mem")
        assert cursor.fetchone()[0] != "7MB"


@pytest.mark.django_db
def test_an_error_of_the_query_is_raised_to_the_caller():
    with pytest.raises(psycopg.errors.DivisionByZero):
        list(row_runs("SELECT g, 1 / (g - 3) FROM generate_series(1, 5) g", {}, {}))
    assert not [t for t in threading.enumerate() if t.name == "pems-row-runs"]


@pytest.mark.django_db
def test_a_caller_that_stops_early_cancels_the_query():
    # 20 s in all; rows wider than the 8 kB PostgreSQL buffers before sending, so each comes
    # as it is made
    sql = "SELECT g, pg_sleep(0.05)::text || repeat('x', 9000) FROM generate_series(1, 400) g"
    runs = row_runs(sql, {}, {})
    began = time.monotonic()
    assert next(runs) == [(1, "x" * 9000)]
    runs.close()
    assert time.monotonic() - began < 10
    assert not [t for t in threading.enumerate() if t.name == "pems-row-runs"]


def _spied(monkeypatch) -> list[int]:
    """Stream from the first point on, and count the walks streamed."""
    streamed: list[int] = []
    real = lines_sql.row_runs

    def spy(*args):
        streamed.append(1)
        yield from real(*args)

    monkeypatch.setattr(lines_sql, "STREAM_FROM", 1)
    monkeypatch.setattr(lines_sql, "row_runs", spy)
    return streamed


def _quarters(point, start: dt.datetime, count: int, step: Decimal, total=Decimal(0)):
    """``count`` readings a quarter hour apart from ``start``, ``step`` kWh each, and the
    point's latest state, as sweeps store them (committed: the walk's own connection sees
    nothing else)."""
    rows = []
    for n in range(count):
        at = start + n * QUARTER
        rows.append(
            IntervalReading(
                point=point, interval_start=at, read_at=at, energy_total=total + n * step
            )
        )
    IntervalReading.objects.bulk_create(rows)
    last = rows[-1]
    PointState.objects.update_or_create(
        point=point, defaults={"read_at": last.read_at, "energy_total": last.energy_total}
    )


@pytest.mark.django_db(transaction=True)
def test_the_streamed_walk_gives_the_lines_of_the_walk_read_at_once(monkeypatch):
    """Four points over three days of a TOU tariff with monthly tiers, a month's end among
    them: each point's lines, read as PostgreSQL produces them, are those read at once."""
    tariff = TARIFFS["Asia/Shanghai"]
    start = dt.datetime(2025, 3, 30, 1, 0, tzinfo=dt.UTC)
    due = []
    for n in range(4):
        point = MeteringPointFactory()
        _quarters(point, start + n * QUARTER, 300, Decimal("0.250") * (n + 1), Decimal(100 * n))
        due.append(Due(point.pk, start + n * QUARTER, Decimal(100 * n), None))
    cuts = cut_points(start, start + dt.timedelta(days=5), tariff)
    at_once = points_lines(due, cuts, tariff, scan=True, marks=True)
    assert None not in at_once.values()
    streamed = _spied(monkeypatch)
    assert dict(lines_as_read(due, cuts, tariff, scan=True, marks=True, stream=True)) == at_once
    assert streamed == [1]


@pytest.mark.django_db(transaction=True)
def test_the_settle_job_charges_chunks_of_a_streamed_backlog(monkeypatch):
    """Three tenants at 1.00 a kWh read every quarter hour for two days from their
    attachment, using 0.25, 0.50 and 0.75 kWh a quarter: 192 quarters after the cursor,
    48, 96 and 144 kWh. The job's chunks charge all three from the streamed walk."""
    site = SiteFactory()  # one site, one tariff: one walk
    tenants = [server_side_tenant("1.00", site=site) for _ in range(3)]
    for n, (_account, point) in enumerate(tenants, start=1):
        _quarters(point, T0 - dt.timedelta(days=1), 193, Decimal("0.250") * n)
    settle_due()  # opens each cursor at the reading of its attachment
    assert [balance(account) for account, _ in tenants] == [cny("0.00")] * 3

    streamed = _spied(monkeypatch)
    prefetched, handled = prefetch_and_settle([account for account, _ in tenants])
    assert streamed == [1]
    # Every summary read is kept, for the points the chunks leave to the per-point path.
    assert set(prefetched.summaries) == set(SettlementCursor.objects.values_list("pk", flat=True))
    assert handled == {(account.pk, point.pk) for account, point in tenants}
    assert [balance(account) for account, _ in tenants] == [
        cny("-48.00"),
        cny("-96.00"),
        cny("-144.00"),
    ]


@pytest.mark.django_db
def test_without_a_second_connection_the_walk_is_read_at_once(monkeypatch, caplog):
    """PostgreSQL at max_connections refuses the walk's own connection: settlement reads the
    walk on its own connection instead, and says so, rather than stopping."""

    def refused(_sql, _params, _settings, runs, _reading):
        runs.put(streamed._Failed(OperationalError("sorry, too many clients already")))
        runs.put(streamed._END)

    monkeypatch.setattr(streamed, "_read", refused)
    monkeypatch.setattr(lines_sql, "STREAM_FROM", 1)
    tariff = TARIFFS["Asia/Shanghai"]
    start = dt.datetime(2025, 3, 30, 1, 0, tzinfo=dt.UTC)
    point = MeteringPointFactory()
    _quarters(point, start, 300, Decimal("0.250"))
    due = [Due(point.pk, start, Decimal(0), None)]
    cuts = cut_points(start, start + dt.timedelta(days=5), tariff)
    at_once = points_lines(due, cuts, tariff, scan=True, marks=True)
    assert at_once[point.pk] is not None
    assert dict(lines_as_read(due, cuts, tariff, scan=True, marks=True, stream=True)) == at_once
    assert "no connection of its own" in caplog.text
