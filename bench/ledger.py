"""Benchmarks of the prepaid core (figures go to docs/benchmarks.md).

    python bench/ledger.py recharge [--action recharge|sell] [--processes 4] [--sites 1]
                                    [--seconds 10] [--threads 8] [--rate 100]
                                    [--fee-control server-side|meter-side]
    python bench/ledger.py settle [--points 100] [--readings-per-point 10000]
    python bench/ledger.py resettle [--rounds 3]
    python bench/ledger.py trip-latency [--accounts 242] [--loop 0.5]
    python bench/ledger.py reconcile [--accounts 242] [--rounds 3]

``recharge`` measures cashier sales by a logged-in cashier (audited):
``--action recharge`` calls the ledger action alone, ``--action sell`` what the
console and the API call (tariff fee, meter-side push, prepaid policy).
Throughput with N processes on one site (or spread over ``--sites``), then
latency percentiles at a paced rate, served by the same processes sharing
``--threads`` threads (as gunicorn workers with threads would).
``settle`` stores interval readings for N points, prices them all under a TOU
tariff with monthly tiers (settlement action, cursor by cursor), and compares
with the time the database takes merely to scan the same rows; ``resettle``
times that again on the readings the last ``settle`` stored (rolled back).
``reconcile`` times passes of the meter-side reconcile job over N meters read anew.

Set PEMS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/pems_bench
for PostgreSQL; the default is a scratch SQLite file under var/bench/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from _setup import Progress, setup_django

TOU_TIERED = """
name = "Bench TOU tiered"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"
billing_cycle = "month"

[[versions]]
id = "v1"
effective_from = 2025-01-01
prices = { peak = 1.1053, flat = 0.6632, valley = 0.2981 }
tiers = [{ up_to = 200, surcharge = 0 }, { up_to = 400, surcharge = 0.05 }, { surcharge = 0.30 }]

[versions.tou.days.normal]
periods = [
    { start = "22:00", end = "08:00", rate = "valley" },
    { start = "08:00", end = "17:00", rate = "flat" },
    { start = "17:00", end = "22:00", rate = "peak" },
]

[versions.tou.default]
workday = "normal"
weekend = "normal"
holiday = "normal"
"""


def make_accounts(count: int, label: str, fee_control: str = "server-side"):
    from pems.accounts import actions
    from pems.inventory.models import Gateway, Meter, MeteringPoint, MeterModel, Site
    from pems.inventory.models.catalogue import sync_catalogue

    sync_catalogue()
    from pems.accounts.models import Tenant

    site = Site.objects.create(name=f"bench {label} {time.time_ns()}")
    model = MeterModel.objects.get(code="DTSY1352-NK")
    accounts = []
    gateway = None
    for n in range(count):
        if n % 200 == 0:
            gateway = Gateway.objects.create(
                site=site,
                name=f"g{n}",
                host="127.0.0.1",
                port=30000 + n // 200 + site.pk * 600,
                protocol="modbus-rtu-over-tcp",
            )
        meter = Meter.objects.create(
            gateway=gateway, address=n % 200 + 1, number=f"{site.pk:04d}{n:08d}", model=model
        )
        point = MeteringPoint.objects.create(meter=meter, phases=3, fee_control=fee_control)
        tenant = Tenant.objects.create(site=site, name=f"t{n}", mobile="13800138000")
        accounts.append(actions.open_account(tenant, [point], actor="bench"))
    return site, accounts


_ACCOUNTS: list = []  # per worker: the accounts it sells to; set before the workers fork
_CASHIER: list = []


def _cashier_accounts(
    per_worker: int, workers: int, sites: int, action: str, fee_control: str
) -> list[list]:
    """``workers`` lists of accounts; worker w sells on site w % sites (one plaza by default).

    ``sell`` accounts pay under a flat tariff with a 2 % service fee, so each sale
    also looks up the tariff and posts the fee, as at a real till.
    """
    from pems.billing.tariffs import assign_tariff, create_tariff

    per_site = per_worker * -(-workers // sites)
    pools = []
    for _ in range(sites):
        site, accounts = make_accounts(per_site, action, fee_control)
        if action == "sell":
            tariff = create_tariff(site, "flat", FLAT_WITH_FEE, "bench")
            for account in accounts:
                assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), "bench")
        pools.append(accounts)
    return [
        pools[w % sites][(w // sites) * per_worker : (w // sites + 1) * per_worker]
        for w in range(workers)
    ]


def _sell_one(action: str, accounts: list, index: int, key: str) -> float:
    from pems.accounts.actions import recharge
    from pems.billing.actions import sell
    from pems.domain.money import Money

    do = sell if action == "sell" else recharge
    started = time.perf_counter()
    do(accounts[index % len(accounts)], Money(Decimal("10.00"), "CNY"), "cash", _CASHIER[0], key)
    return time.perf_counter() - started


def _saturate(job: tuple[str, int, float]) -> tuple[int, float, float]:
    """Sell as fast as one process can; (calls, Python CPU s, PostgreSQL backend CPU s)."""
    from django.db import connection

    action, worker, seconds = job
    done, deadline = 0, time.monotonic() + seconds
    cpu, server = time.process_time(), _server_cpu()
    try:
        while time.monotonic() < deadline:
            _sell_one(action, _ACCOUNTS[worker], done, f"{time.time_ns()}-{worker}-{done}")
            done += 1
        return done, time.process_time() - cpu, _server_cpu() - server
    finally:
        connection.close()


def _server_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend, when it runs on this machine."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _statements_per_call(action: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _sell_one(action, _ACCOUNTS[0], 0, f"count-{time.time_ns()}-warm")
    with CaptureQueriesContext(connection) as queries:
        _sell_one(action, _ACCOUNTS[0], 0, f"count-{time.time_ns()}")
    return len(queries.captured_queries)


def _box_busy() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def bench_recharge(
    action: str,
    seconds: float,
    processes: int,
    threads: int,
    rate: float,
    sites: int,
    fee_control: str,
) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    _CASHIER[:] = [get_user_model().objects.get_or_create(username="bench-cashier")[0]]
    _ACCOUNTS[:] = _cashier_accounts(4, max(processes, 1), sites, action, fee_control)
    print(f"{action}: {_statements_per_call(action)} SQL statements per call")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    # Processes, as gunicorn serves the API: threads alone share one core (the GIL).
    connection.close()
    busy0, total0 = _box_busy()
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        results = pool.map(_saturate, [(action, w, seconds) for w in range(processes)])
    elapsed = time.monotonic() - started
    busy1, total1 = _box_busy()
    total = sum(done for done, _, _ in results)
    cpu = sum(used for _, used, _ in results) / total * 1000
    server = sum(used for _, _, used in results) / total * 1000
    print(
        f"{action} throughput: {total / elapsed:,.0f}/s ({total:,} calls, {processes} processes"
        f" on {sites} site(s), {elapsed:.1f} s)\n"
        f"  CPU per call: Python {cpu:.2f} ms + PostgreSQL backend {server:.2f} ms;"
        f" whole box busy {100 * (busy1 - busy0) / max(total1 - total0, 1):.0f} %"
    )

    # Paced as gunicorn would serve it: the same processes, each with a share of the threads.
    per_process = max(1, threads // processes)
    jobs = [(action, w, processes / rate, w / rate, seconds, per_process) for w in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        latencies = [t for part in pool.map(_paced, jobs) for t in part]
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{action} latency at {rate:.0f}/s ({processes} processes x {per_process} threads): "
        f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms ({len(latencies):,} calls)"
    )


def _paced(job: tuple[str, int, float, float, float, int]) -> list[float]:
    """One process's share of the paced load: a call every ``interval`` s, on ``threads``."""
    action, worker, interval, offset, seconds, threads = job
    next_at = time.monotonic() + offset
    with ThreadPoolExecutor(threads) as pool:
        futures = []
        for i in range(int(seconds / interval)):
            time.sleep(max(0.0, next_at - time.monotonic()))
            key = f"paced-{time.time_ns()}-{worker}-{i}"
            futures.append(pool.submit(_sell_one, action, _ACCOUNTS[worker], i, key))
            next_at += interval
        return [f.result() for f in futures]


def _store_readings(point_id: int, start: dt.datetime, count: int) -> None:
    """15-minute readings of 0.250 kWh each, read a few seconds late as a real sweep does."""
    from django.db import connection

    from pems.metering.models import IntervalReading

    table = IntervalReading._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} (point_id, interval_start, read_at, energy_total) "
                "SELECT %s, %s + i * interval '15 minutes', "
                "%s + i * interval '15 minutes' + (i %% 7) * interval '1 second', i * 250 "
                "FROM generate_series(0, %s) AS i",
                [point_id, start, start, count - 1],
            )
        else:
            base = start.strftime("%Y-%m-%d %H:%M:%S")
            cursor.execute(
                f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %s) "
                f"INSERT INTO {table} (point_id, interval_start, read_at, energy_total) "
                "SELECT %s, datetime(%s, '+' || (i * 15) || ' minutes'), "
                "datetime(%s, '+' || (i * 900 + i %% 7) || ' seconds'), i * 250 FROM s",
                [count - 1, point_id, base, base],
            )


def bench_settle(points: int, per_point: int) -> None:
    from django.db import connection

    from pems.billing.settlement import settle_point
    from pems.billing.tariffs import assign_tariff, create_tariff
    from pems.metering import hour_marks
    from pems.metering.models import IntervalReading

    site, accounts = make_accounts(points, "settle")
    tariff = create_tariff(site, "tou-tiered", TOU_TIERED, "bench")
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    progress = Progress("storing readings", points * per_point)
    stored = 0
    for account in accounts:
        assign_tariff(account, tariff, start, "bench")
        account.links.update(attached_at=start)
        _store_readings(account.metering_points.get().pk, start, per_point)
        stored += per_point
        progress.update(stored)
    with connection.cursor() as cursor:
        table = IntervalReading._meta.db_table
        # VACUUM too on PostgreSQL: otherwise autovacuum wakes for the new rows during the run.
        cursor.execute(f"{'VACUUM ' if connection.vendor == 'postgresql' else ''}ANALYZE {table}")
        if connection.vendor == "postgresql":  # and the hour marks the triggers made of them
            cursor.execute(f"VACUUM ANALYZE {hour_marks.MARKS}, {hour_marks.FALLS}")
    pairs = [(account, account.metering_points.get()) for account in accounts]
    for account, point in pairs:
        settle_point(account, point, "bench")  # the baseline cursor, as when the account opened
    _time_settlement(pairs)


def bench_resettle(rounds: int) -> None:
    """Time the settlement again on the readings the last ``settle`` run stored.

    Each round opens the cursors again where ``settle`` opened them (each
    point's first reading) inside a transaction that is rolled back, so the
    chunks commit as savepoints, and the accounts start from the balance the
    first run left (the policy finds them tripped already). Storing 10 M
    readings again would take minutes.
    """
    from django.db import transaction

    from pems.accounts.models import Account
    from pems.billing.models import SettlementCursor
    from pems.inventory.models import Site
    from pems.metering.models import IntervalReading

    site = Site.objects.filter(name__startswith="bench settle").order_by("pk").last()
    if site is None:
        raise SystemExit("no readings to settle again: run `bench/ledger.py settle` first")
    accounts = list(Account.objects.filter(tenant__site=site).order_by("pk"))
    pairs = [(account, account.metering_points.get()) for account in accounts]
    ids = [point.pk for _, point in pairs]
    readings = IntervalReading.objects.order_by("read_at")
    first = {point_id: readings.filter(point_id=point_id).first() for point_id in ids}
    for _ in range(rounds):
        with transaction.atomic():
            # New cursors, so new ids: settlement keys name the cursor, and the first run's
            # entries (committed) would otherwise turn every chunk into a replay.
            SettlementCursor.objects.filter(point_id__in=ids).delete()
            SettlementCursor.objects.bulk_create(
                SettlementCursor(
                    account=account,
                    point=point,
                    settled_until=first[point.pk].read_at,
                    last_total=first[point.pk].energy_total,
                )
                for account, point in pairs
            )
            _time_settlement(pairs)
            transaction.set_rollback(True)


def _time_settlement(pairs: list) -> None:
    """Time what ``billing.jobs.settle_due`` does for ``pairs`` against a scan of their rows."""
    from django.db import connection

    from pems.billing.settle_many import prefetch_and_settle
    from pems.billing.settlement import settle_point
    from pems.ledger.verify import ledger_problems
    from pems.metering.models import IntervalReading

    ids = sorted(point.pk for _, point in pairs)
    table = IntervalReading._meta.db_table
    # The points' rows by the cheapest filter: a range when their ids run on (the bench makes
    # them so), else a literal list, which PostgreSQL searches by hash. A bound parameter
    # would be searched element by element: 3 × the scan itself for 1,000 points.
    where = (
        f"point_id BETWEEN {ids[0]:d} AND {ids[-1]:d}"
        if ids[-1] - ids[0] + 1 == len(ids)
        else f"point_id IN ({', '.join(f'{i:d}' for i in ids)})"
    )
    if connection.vendor != "postgresql":
        where = "true"  # SQLite would walk the point index: slower than reading the table
    with connection.cursor() as cursor:
        scan = float("inf")
        for _ in range(3):  # the best of three: the bar settlement is held to is the lowest
            began = time.perf_counter()
            cursor.execute(f"SELECT count(*), sum(energy_total) FROM {table} WHERE {where}")
            scanned = cursor.fetchone()[0]
            scan = min(scan, time.perf_counter() - began)
    floor = _grouping_floor(pairs, where) if connection.vendor == "postgresql" else None
    accounts = [account for account, _ in pairs]
    began = time.perf_counter()
    # What billing.jobs.settle_due does first: the summaries read, a chunk of points settled
    # per transaction as soon as its summaries are in.
    summaries, handled = prefetch_and_settle(accounts)
    chunked = time.perf_counter() - began
    progress = Progress("settling the other points one by one", len(pairs))
    for index, (account, point) in enumerate(pairs, start=1):
        if (account.pk, point.pk) not in handled:
            settle_point(account, point, "bench", summaries)
        progress.update(index)
    settle = time.perf_counter() - began
    left = sum(settle_point(account, point, "bench") is not None for account, point in pairs)
    print(f"scan of {scanned:,} readings by {connection.vendor} (best of 3): {scan:.2f} s")
    if floor is not None:
        cells, grouped = floor
        print(
            f"grouping them into their {cells:,} pricing cells alone (no pricing, no writes; "
            f"best of 3): {grouped:.2f} s = {grouped / max(scan, 1e-6):.1f}x the scan"
        )
    print(
        f"prefetch and the chunks (the database prices every due point, its points charged"
        f" as they come): {chunked:.2f} s"
    )
    if left:
        print(f"NOT DONE: {left} points still had readings to settle after the run")
    print(
        f"settlement of {scanned:,} readings (TOU + tiers): {settle:.1f} s = "
        f"{scanned / settle:,.0f} readings/s, {settle / max(scan, 1e-6):.1f}x the scan"
    )
    problems = ledger_problems()
    print(f"ledger verification: {'sound' if not problems else problems[:3]}")


def _grouping_floor(pairs: list, where: str) -> tuple[int, float]:
    """The points' readings grouped by (point, pricing cell) as settlement first groups them.

    What any settlement that reads the stored readings must at least do: the
    tariff's cut points, ``width_bucket`` and a hash aggregate under the
    settings ``billing.lines_sql`` uses. Returns (cells, best of three seconds).
    """
    import psycopg
    from django.db import connection, transaction

    from pems.billing.lines_sql import GROUPING_WORK_MEM, WHOLE_TABLE
    from pems.billing.tariffs import priced
    from pems.domain.segments import cut_points
    from pems.metering.models import IntervalReading

    table = IntervalReading._meta.db_table
    assignment = pairs[0][0].tariffs.select_related("tariff").get()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(read_at), max(read_at) FROM {table} WHERE {where}")
        first, last = cursor.fetchone()
    cuts = cut_points(first, last + dt.timedelta(days=1), priced(assignment.tariff))
    sql = (
        f"SELECT point_id, width_bucket(read_at, %s::timestamptz[]) AS cell, "
        f"min(read_at), max(read_at), min(energy_total), max(energy_total), count(*) "
        f"FROM {table} WHERE {where} GROUP BY 1, 2"
    )
    best, cells = float("inf"), 0
    settings = {"work_mem": GROUPING_WORK_MEM, "jit": "off", **WHOLE_TABLE}
    with transaction.atomic(), psycopg.Cursor(connection.connection) as binary:
        for name, value in settings.items():
            binary.execute("SELECT set_config(%s, %s, true)", [name, value])
        try:
            for _ in range(3):
                began = time.perf_counter()
                thresholds = [cut + dt.timedelta(microseconds=1) for cut in cuts]
                binary.execute(sql, [thresholds], binary=True)
                cells = len(binary.fetchall())
                best = min(best, time.perf_counter() - began)
        finally:  # inside resettle's transaction the settings would outlive this one
            for name in settings:
                binary.execute(f"RESET {name}")
    return cells, best


def bench_trip_latency(accounts_count: int, loop: float, trials: int) -> None:
    """From a sweep writing a zero-credit reading to the trip command in the queue.

    ``pems settle --loop LOOP`` runs in a thread as it would beside the
    collector; the main thread plays the collector, upserting PointState.
    """
    import threading

    from django.db import connection

    from pems.billing.actions import sell
    from pems.billing.jobs import settle_due
    from pems.billing.tariffs import assign_tariff, create_tariff
    from pems.control.models import Command
    from pems.domain.money import Money
    from pems.metering.models import PointState

    site, accounts = make_accounts(accounts_count, "trip")
    tariff = create_tariff(site, "flat", FLAT, "bench")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    points = []
    for n, account in enumerate(accounts):
        assign_tariff(account, tariff, start, "bench")
        account.links.update(attached_at=start)
        sell(account, Money(Decimal("100.00"), "CNY"), "cash", "bench", f"trip-{site.pk}-{n}")
        point = account.metering_points.get()
        PointState.objects.create(
            point=point, read_at=start, energy_total=Decimal("1000.000"), relay_closed=True
        )
        points.append(point)
    settle_due(limit=accounts_count)  # open every cursor at its baseline
    stop = threading.Event()

    def settle_loop() -> None:
        try:
            while not stop.is_set():
                began = time.monotonic()
                settle_due(limit=accounts_count)
                stop.wait(max(0.0, loop - (time.monotonic() - began)))
        finally:
            connection.close()

    worker = threading.Thread(target=settle_loop, daemon=True)
    worker.start()
    latencies = []
    for trial in range(trials):
        point = points[trial * 7 % len(points)]
        time.sleep(loop * 0.37)  # land anywhere in the loop's period
        written = time.monotonic()
        PointState.objects.filter(point=point).update(
            read_at=dt.datetime.now(dt.UTC), energy_total=Decimal("1200.000")
        )
        while not Command.objects.filter(point=point, kind="trip").exists():
            if time.monotonic() - written > 30:
                stop.set()
                raise SystemExit(f"no trip queued for point {point.pk} within 30 s")
            time.sleep(0.005)
        latencies.append(time.monotonic() - written)
    stop.set()
    worker.join()
    print(
        f"zero-credit reading -> trip queued, {accounts_count} accounts, settle loop {loop} s: "
        f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
        f"({trials} trips)"
    )


def bench_reconcile(accounts_count: int, rounds: int) -> None:
    """Passes of the meter-side reconcile job (``pems settle``) over N points, each read anew.

    Every point holds 100.00 its meter confirmed; each round the "collector"
    reports 10.00 less on every meter, then one ``reconcile_due`` pass books it.
    A last pass with no new reading shows what an idle loop costs.
    """
    from pems.billing import mirror
    from pems.billing.actions import sell
    from pems.control.models import Command, CommandKind, CommandStatus
    from pems.domain.money import Money
    from pems.ledger import chart
    from pems.ledger.verify import ledger_problems
    from pems.metering.models import EventKind, MeterEvent, PointState

    site, accounts = make_accounts(accounts_count, "reconcile", "meter-side")
    progress = Progress("selling to meter-side accounts", accounts_count)
    for n, account in enumerate(accounts):
        sell(account, Money(Decimal("100.00"), "CNY"), "cash", "bench", f"rec-{site.pk}-{n}")
        progress.update(n + 1)
    pushed = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    pushes = Command.objects.filter(point__meter__gateway__site=site, kind=CommandKind.PUSH_CREDIT)
    pushes.update(status=CommandStatus.CONFIRMED, completed_at=pushed)
    points = [p for account in accounts for p in account.metering_points.all()]
    for round_ in range(1, rounds + 2):
        idle = round_ > rounds
        if not idle:
            at = pushed + dt.timedelta(minutes=round_)
            credit = Decimal(100 - 10 * round_)
            PointState.objects.bulk_create(
                [PointState(point=p, read_at=at, remaining_credit=credit) for p in points],
                update_conflicts=True,
                unique_fields=["point"],
                update_fields=["read_at", "remaining_credit"],
            )
        began = time.perf_counter()
        taken = mirror.reconcile_due(limit=accounts_count)
        took = time.perf_counter() - began
        label = "idle pass (no new reading)" if idle else f"round {round_}"
        print(
            f"{label}: {taken} point(s) in {took:.3f} s"
            + (
                f" = {taken / took:,.0f} points/s, {took / taken * 1000:.2f} ms a point"
                if taken
                else ""
            )
        )
    spent = chart.revenue(site, "electricity").balance
    expected = Decimal(10 * rounds * accounts_count)
    drift = MeterEvent.objects.filter(point__in=points, kind=EventKind.CREDIT_DRIFT).count()
    problems = ledger_problems()
    sound = problems or "sound"
    print(f"usage booked {spent} (expected {expected}), drift events {drift}, ledger {sound}")
    if spent != expected or drift or problems:
        raise SystemExit("the reconcile benchmark booked the wrong amounts")


FLAT = """
name = "Bench flat"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"

[[versions]]
id = "v1"
effective_from = 2025-01-01
prices = { flat = 1.00 }
"""

FLAT_WITH_FEE = FLAT.replace("prices =", "service_fee_ratio = 0.02\nprices =")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    recharge = sub.add_parser("recharge")
    recharge.add_argument("--seconds", type=float, default=10)
    recharge.add_argument("--processes", type=int, default=4)
    recharge.add_argument("--threads", type=int, default=8)
    recharge.add_argument("--rate", type=float, default=100)
    recharge.add_argument("--action", choices=["recharge", "sell"], default="recharge")
    recharge.add_argument("--sites", type=int, default=1)
    recharge.add_argument(
        "--fee-control", choices=["server-side", "meter-side"], default="server-side"
    )
    settle = sub.add_parser("settle")
    settle.add_argument("--points", type=int, default=100)
    settle.add_argument("--readings-per-point", type=int, default=10_000)
    resettle = sub.add_parser("resettle")
    resettle.add_argument("--rounds", type=int, default=3)
    reconcile = sub.add_parser("reconcile")
    reconcile.add_argument("--accounts", type=int, default=242)
    reconcile.add_argument("--rounds", type=int, default=3)
    trip = sub.add_parser("trip-latency")
    trip.add_argument("--accounts", type=int, default=242)
    trip.add_argument("--loop", type=float, default=0.5)
    trip.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    url = setup_django(f"{'settle' if args.what == 'resettle' else args.what}.sqlite3")
    print(f"database: {url}")
    if args.what == "recharge":
        bench_recharge(
            args.action,
            args.seconds,
            args.processes,
            args.threads,
            args.rate,
            args.sites,
            args.fee_control,
        )
    elif args.what == "trip-latency":
        bench_trip_latency(args.accounts, args.loop, args.trials)
    elif args.what == "reconcile":
        bench_reconcile(args.accounts, args.rounds)
    elif args.what == "resettle":
        bench_resettle(args.rounds)
    else:
        bench_settle(args.points, args.readings_per_point)


if __name__ == "__main__":
    main()
