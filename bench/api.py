"""Benchmark of the cashier recharge API over HTTP (figures go to docs/benchmarks.md).

    python bench/api.py [--clients 4] [--seconds 10] [--rate 100] [--accounts 16]
                        [--workers 2xCPUs] [--threads 1] [--paced-threads 8] [--reconnect-every 0]
                        [--fee-control server-side|meter-side] [--unprepared] [--show-sql]

Where ``bench/ledger.py recharge --action sell`` calls the sale function in
processes, this drives ``POST /api/recharges`` through the real web server:
``pems serve`` (gunicorn, gthread workers, its access log, every middleware)
started as a subprocess on a free port of 127.0.0.1, with a bearer token of a
cashier of one site whose ``--accounts`` accounts pay under a flat tariff with
a 2 % service fee (``ledger.py``'s accounts).

1. The statements one request runs, counted in this process through the same
   middleware and endpoint (Django's test client, no server).
2. Throughput: ``--clients`` processes, each with one keep-alive connection,
   post sales back to back for ``--seconds``; only 201 answers count. CPU per
   call is split into the server (gunicorn master and workers, from
   /proc/PID/stat), the PostgreSQL backends of the bench database, and the
   load-generating clients, which share the machine with both. Gunicorn hands
   out connections, not requests: a few keep-alive connections may all land
   on one worker (one core, the GIL), so each worker's CPU and the client
   connections it held are printed; ``--reconnect-every N`` makes the clients
   connect again every N calls, which spreads them (at a connection's cost).
3. Latency at ``--rate`` calls/s for ``--seconds``, open loop: every call has
   a scheduled send time, the clients' threads (``--paced-threads`` each, one
   connection per thread) send it then whatever earlier answers do, and the
   clock runs from the scheduled time, so a slow answer shows in the calls
   queued behind it.
4. The ledger is verified (``ledger_problems()``) and the run's recharge
   entries are counted against the 201 answers.

``--unprepared`` runs the server with PEMS_DATABASE_PREPARED=0 (no psycopg
server-side binding nor prepared statements), to compare with the default.
Its log (access log included) goes to PEMS_DATA_DIR/bench-api-server.log.

Set PEMS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/pems_bench
for PostgreSQL; the default is a scratch SQLite file under var/bench/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _setup import setup_django

from ledger import _box_busy, _cashier_accounts
from pems.core.management.commands.serve import default_shape

TICK = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"
PATH = "/api/recharges"
AMOUNT = "10.00"
#: More than this share of non-201 answers fails the run.
FAILURE_LIMIT = 0.001


# --- set-up (this process, Django) -----------------------------------------------------------


def make_cashier(site: Any) -> tuple[Any, str]:
    """A login with the cashier role on ``site`` (as tests/factories.py ``staff_user``) and the
    secret of an API token acting for it."""
    from django.contrib.auth import get_user_model

    from pems.access.models import ApiToken, Staff
    from pems.access.roles import Role

    user = get_user_model().objects.create_user(f"bench-api-{time.time_ns()}", password=None)
    staff = Staff.objects.create(user=user, role=Role.CASHIER)
    staff.sites.set([site])
    _token, secret = ApiToken.issue(user, "bench/api.py")
    return user, secret


def sale_body(account_id: int, key: str) -> bytes:
    return json.dumps(
        {
            "account": account_id,
            "amount": AMOUNT,
            "currency": "CNY",
            "channel": "cash",
            "idempotency_key": key,
        }
    ).encode()


def count_statements(secret: str, account_id: int, show: bool) -> None:
    """One request through the middleware and the endpoint, in this process: its statements."""
    from django.db import close_old_connections, connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {secret}")
    checks: list[int] = []
    usable = connection.is_usable

    def counted() -> bool:
        checks.append(1)
        return usable()

    counts = []
    for n in range(10):  # the last is shown: the token's last_used_at is then fresh, and the
        # account's alarm level settled (the first sales raise it and write a prepaid event)
        key = f"count-{time.time_ns()}-{n}"
        # What request_started does in the real server (the test client leaves it out): with
        # CONN_HEALTH_CHECKS the first statement of each request is preceded by SELECT 1.
        close_old_connections()
        checks.clear()
        connection.is_usable = counted  # type: ignore[method-assign]
        try:
            with CaptureQueriesContext(connection) as queries:
                response = client.post(PATH, sale_body(account_id, key), "application/json")
        finally:
            del connection.is_usable
        if response.status_code != 201:
            answer = response.content[:200].decode(errors="replace")
            raise SystemExit(f"in-process request answered {response.status_code}: {answer}")
        counts.append(len(queries.captured_queries))
    captured = queries.captured_queries
    print(
        f"SQL statements per request (in this process, Django's test client; BEGIN and COMMIT"
        f" included): {len(captured)} through Django's cursor + {len(checks)} health check"
        f" (SELECT 1 by psycopg directly, CONN_HEALTH_CHECKS="
        f"{connection.settings_dict['CONN_HEALTH_CHECKS']}); ten requests in a row made"
        f" {', '.join(map(str, counts))}"
    )
    if show:
        for n, query in enumerate(captured, start=1):
            print(f"  {n:2d}. {' '.join(query['sql'].split())[:300]}")


# --- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_server(
    port: int, workers: int, threads: int, unprepared: bool, log: Path, log_level: str
) -> subprocess.Popen[bytes]:
    """``pems serve`` on the bench database, in its own process group."""
    env = dict(os.environ)  # PEMS_DATABASE_URL and PEMS_DATA_DIR as setup_django set them
    env["PEMS_LOG_LEVEL"] = log_level
    if unprepared:
        env["PEMS_DATABASE_PREPARED"] = "0"
    else:
        env.pop("PEMS_DATABASE_PREPARED", None)
    command = [sys.executable, "-m", "pems.cli", "serve", "--bind", f"{HOST}:{port}"]
    command += ["--workers", str(workers), "--threads", str(threads)]
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_up(
    server: subprocess.Popen[bytes], port: int, secret: str, log: Path, workers: int
) -> None:
    """Until the server answers and has forked every worker."""
    deadline = time.monotonic() + 120  # the first run collects the static files
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the server exited ({server.returncode}):\n{tail}")
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("GET", "/api/sites", headers={"Authorization": f"Bearer {secret}"})
            response = connection.getresponse()
            response.read()
            if response.status == 200 and len(children_of(server.pid)) >= workers:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer within 120 s; see {log}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return sorted(found)


def cpu_of(pid: int) -> float | None:
    """utime + stime of a process in seconds (as ledger.py's ``_server_cpu``), None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def backend_pids() -> list[int]:
    """The bench database's client backends but this process's own (none on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


class CpuMeter:
    """CPU seconds used between ``start`` and ``stop`` by the server's processes and backends."""

    def __init__(self, server_pids: list[int]) -> None:
        self.server_pids = server_pids

    def _snapshot(self) -> tuple[dict[int, float], dict[int, float]]:
        server = {pid: cpu_of(pid) for pid in self.server_pids}
        backends = {pid: cpu_of(pid) for pid in backend_pids()}
        return (
            {pid: cpu for pid, cpu in server.items() if cpu is not None},
            {pid: cpu for pid, cpu in backends.items() if cpu is not None},
        )

    def start(self) -> None:
        self.before = self._snapshot()

    def stop(self) -> None:
        after = self._snapshot()
        # A backend opened during the run started at 0; one closed during it is lost.
        self.server = {pid: cpu - self.before[0].get(pid, 0.0) for pid, cpu in after[0].items()}
        self.backends = sum(cpu - self.before[1].get(pid, 0.0) for pid, cpu in after[1].items())
        self.backend_count = len(after[1])


# --- the clients (forked processes; no Django here) ------------------------------------------


class Poster:
    """One keep-alive connection posting sales; reconnects (and says so) when it drops."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.headers = {
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            "Accept-Language": "en",
        }
        self.reconnects = 0
        self.connection: http.client.HTTPConnection | None = None  # opened by the first call

    def _connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=60)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def post(self, body: bytes) -> tuple[int, bytes]:
        """(status, answer); status 0 with the error's text when no answer came."""
        for attempt in range(2):
            reused = self.connection is not None
            try:
                if self.connection is None:
                    self.connection = self._connect()
                self.connection.request("POST", PATH, body, self.headers)
                response = self.connection.getresponse()
                answer = response.read()
                if response.will_close:
                    self.close()
                    self.reconnects += 1
                return response.status, answer
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # The server closed an idle keep-alive connection: send again on a new one, as
                # HTTP clients do (the idempotency key makes it safe: a replay would answer 200).
                self.close()
                if attempt or not reused:
                    return 0, repr(exc).encode()
                self.reconnects += 1
            except OSError as exc:
                self.close()
                return 0, repr(exc).encode()
        raise AssertionError("unreachable")


def _tally(others: Counter[tuple[int, str]], status: int, answer: bytes) -> None:
    others[(status, answer[:200].decode(errors="replace"))] += 1


def _saturate(job: tuple[int, str, list[int], str, float, int, float]) -> dict[str, Any]:
    """Post sales back to back on one connection from ``start_at`` for ``seconds``."""
    port, secret, accounts, prefix, start_at, reconnect_every, seconds = job
    poster = Poster(port, secret)
    ok, others = 0, Counter[tuple[int, str]]()
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu = time.process_time()
    deadline, calls = start_at + seconds, 0
    while time.monotonic() < deadline:
        body = sale_body(accounts[calls % len(accounts)], f"{prefix}-{calls}")
        status, answer = poster.post(body)
        calls += 1
        if reconnect_every and calls % reconnect_every == 0:
            poster.close()  # planned: the next call connects again, maybe to another worker
        if status == 201:
            ok += 1
        else:
            _tally(others, status, answer)
    ended = time.monotonic()
    poster.close()
    return {
        "ok": ok,
        "others": others,
        "cpu": time.process_time() - cpu,
        "ended": ended,
        "reconnects": poster.reconnects,
    }


def _paced(job: tuple[int, str, list[int], str, int, int, float, float, float, int]) -> dict:
    """This client's share of a schedule of ``rate`` calls/s: call i is due at start + i/rate."""
    port, secret, accounts, prefix, client, clients, start_at, rate, seconds, threads = job
    due: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
    results: list[tuple[float, int, bytes]] = []
    posters = [Poster(port, secret) for _ in range(threads)]

    def work(poster: Poster) -> None:
        while (item := due.get()) is not None:
            index, at = item
            body = sale_body(accounts[(index // clients) % len(accounts)], f"{prefix}-{index}")
            status, answer = poster.post(body)
            results.append((time.monotonic() - at, status, answer))  # list.append is atomic

    workers = [threading.Thread(target=work, args=(poster,)) for poster in posters]
    cpu = time.process_time()
    for worker in workers:
        worker.start()
    late = 0.0
    for index in range(client, int(rate * seconds), clients):
        at = start_at + index / rate
        time.sleep(max(0.0, at - time.monotonic()))
        late = max(late, time.monotonic() - at)
        due.put((index, at))
    for _ in workers:
        due.put(None)
    for worker in workers:
        worker.join()
    ended = time.monotonic()
    for poster in posters:
        poster.close()
    return {
        "cpu": time.process_time() - cpu,
        "ended": ended,
        "results": results,
        "late": late,
        "reconnects": sum(poster.reconnects for poster in posters),
    }


# --- the runs ----------------------------------------------------------------------------------


def _check_failures(what: str, ok: int, others: Counter[tuple[int, str]]) -> int:
    failed = sum(others.values())
    for (status, answer), count in others.most_common():
        print(f"  NOT 201 ({what}): {count:,} x status {status or 'no answer'}: {answer}")
    if failed > FAILURE_LIMIT * (ok + failed):
        raise SystemExit(
            f"FAILED: {failed:,} of {ok + failed:,} {what} calls were not 201"
            f" (more than {FAILURE_LIMIT:.1%})"
        )
    return failed


def held_connections(pids: list[int], port: int) -> list[int]:
    """How many established connections to ``port`` each process holds."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
            inodes.add(f"socket:[{fields[9]}]")
    counts = []
    for pid in pids:
        held = 0
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            fds = []
        for fd in fds:
            try:
                held += os.readlink(fd) in inodes
            except OSError:
                continue
        counts.append(held)
    return counts


class Server:
    """The running server as the runs need it: its port, master and workers."""

    def __init__(self, port: int, master: int, workers: list[int]) -> None:
        self.port, self.master, self.workers = port, master, workers


def run_clients(function: Any, jobs: list[tuple], server: Server, measure: bool) -> dict[str, Any]:
    """Run ``function`` over ``jobs`` in as many forked client processes, measured."""
    from django.db import connection

    seconds = jobs[0][-1] if function is _saturate else jobs[0][8]
    meter = CpuMeter([server.master, *server.workers])
    with multiprocessing.get_context("fork").Pool(len(jobs)) as clients:
        if measure:
            meter.start()
        busy0, total0 = _box_busy()
        pending = clients.map_async(function, jobs)
        time.sleep(0.5 + seconds / 2)  # the clients start 0.5 s after the jobs are made
        held = held_connections(server.workers, server.port)
        results = pending.get()
        busy1, total1 = _box_busy()
        if measure:
            meter.stop()
            connection.close()  # the next clients fork from this process
    return {
        "results": results,
        "meter": meter,
        "held": held,
        "busy": 100 * (busy1 - busy0) / max(total1 - total0, 1),
    }


def _cpu_report(run: dict[str, Any], calls: int, elapsed: float) -> str:
    meter, results = run["meter"], run["results"]
    per_call = 1000 / max(calls, 1)
    server = sum(meter.server.values())
    clients = sum(r["cpu"] for r in results)
    shares = ", ".join(f"{100 * cpu / elapsed:.0f} %" for cpu in list(meter.server.values())[1:])
    held = ", ".join(map(str, run["held"]))
    return (
        f"  CPU per call: server {server * per_call:.2f} ms (gunicorn master + workers)"
        f" + PostgreSQL {meter.backends * per_call:.2f} ms ({meter.backend_count} backends)"
        f" + clients {clients * per_call:.2f} ms (the load generators, on the same box)\n"
        f"  workers' CPU, each as a share of one core: {shares}; client connections each"
        f" worker held mid-run: {held}; whole box busy {run['busy']:.0f} %"
    )


def throughput(
    server: Server,
    secret: str,
    pools: list[list[int]],
    prefix: str,
    seconds: float,
    reconnect_every: int,
    warm_up: bool = False,
) -> int:
    """``len(pools)`` clients back to back for ``seconds``; returns the 201 answers."""
    start_at = time.monotonic() + 0.5  # every client forked and waiting
    jobs = [
        (server.port, secret, pool, f"{prefix}-c{c}", start_at, reconnect_every, seconds)
        for c, pool in enumerate(pools)
    ]
    run = run_clients(_saturate, jobs, server, measure=not warm_up)
    results = run["results"]
    elapsed = max(r["ended"] for r in results) - start_at
    ok = sum(r["ok"] for r in results)
    others = sum((r["others"] for r in results), Counter[tuple[int, str]]())
    if warm_up:
        _check_failures("warm-up", ok, others)
        return ok
    reconnects = sum(r["reconnects"] for r in results)
    connections = (
        "a keep-alive connection each"
        if not reconnect_every
        else f"a new connection every {reconnect_every} calls"
    )
    print(
        f"throughput: {ok / elapsed:,.0f} sales/s answered 201 ({ok:,} in {elapsed:.1f} s,"
        f" {len(pools)} clients with {connections}, {reconnects} unplanned reconnects)\n"
        + _cpu_report(run, ok, elapsed)
    )
    _check_failures("throughput", ok, others)
    return ok


def paced(
    server: Server,
    secret: str,
    pools: list[list[int]],
    prefix: str,
    seconds: float,
    rate: float,
    threads: int,
) -> int:
    """Open-loop calls at ``rate``/s for ``seconds``; returns the 201 answers."""
    clients = len(pools)
    start_at = time.monotonic() + 0.5
    jobs = [
        (server.port, secret, pools[c], prefix, c, clients, start_at, rate, seconds, threads)
        for c in range(clients)
    ]
    run = run_clients(_paced, jobs, server, measure=True)
    parts = run["results"]
    results = [r for part in parts for r in part["results"]]
    latencies = [latency for latency, status, _ in results if status == 201]
    others = Counter[tuple[int, str]]()
    for _, status, answer in results:
        if status != 201:
            _tally(others, status, answer)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    elapsed = max(p["ended"] for p in parts) - start_at
    print(
        f"latency at {rate:g}/s, open loop, from the scheduled send time: "
        f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms,"
        f" max {max(latencies, default=0) * 1000:.1f} ms ({len(latencies):,} answered 201 of"
        f" {len(results):,} in {elapsed:.1f} s; {clients} clients x {threads} threads, each"
        f" with a keep-alive connection; {sum(p['reconnects'] for p in parts)} reconnects;"
        f" the schedule's sends were at most {max(p['late'] for p in parts) * 1000:.1f} ms"
        f" late)\n" + _cpu_report(run, len(latencies), elapsed)
    )
    _check_failures("paced", len(latencies), others)
    return len(latencies)


def verify(site: Any, prefix: str, answered: int) -> None:
    from pems.ledger.models import JournalEntry
    from pems.ledger.verify import ledger_problems

    made = JournalEntry.objects.filter(
        site=site,
        kind=JournalEntry.Kind.RECHARGE,
        idempotency_key__startswith=f"recharge:api:{prefix}-",
    ).count()
    problems = ledger_problems()
    print(f"ledger verification: {'sound' if not problems else problems[:3]}")
    same = made == answered
    print(
        f"recharge entries made by the run: {made:,}; 201 answers: {answered:,}"
        f" -> {'equal' if same else 'MISMATCH'}"
    )
    if problems or not same:
        raise SystemExit("FAILED: the ledger check did not pass")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--accounts", type=int, default=16)
    parser.add_argument("--paced-threads", type=int, default=8, help="threads per client")
    workers, threads = default_shape()  # pems serve's own
    parser.add_argument("--workers", type=int, default=workers)
    parser.add_argument("--threads", type=int, default=threads)
    parser.add_argument(
        "--fee-control", choices=["server-side", "meter-side"], default="server-side"
    )
    parser.add_argument(
        "--unprepared", action="store_true", help="serve with PEMS_DATABASE_PREPARED=0"
    )
    parser.add_argument(
        "--reconnect-every",
        type=int,
        default=0,
        help="throughput clients open a new connection every N calls (0: keep it)",
    )
    parser.add_argument("--show-sql", action="store_true", help="print the counted statements")
    args = parser.parse_args()
    log_level = os.environ.get("PEMS_LOG_LEVEL", "INFO")  # the server's, before setup_django's
    url = setup_django("api.sqlite3")
    from django.conf import settings
    from django.db import connection

    print(f"database: {url}")
    print(
        f"started {dt.datetime.now().astimezone():%Y-%m-%d %H:%M:%S %z};"
        f" load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())};"
        f" {os.cpu_count()} CPUs"
    )
    pools = _cashier_accounts(
        max(1, args.accounts // args.clients), args.clients, 1, "sell", args.fee_control
    )
    accounts = [account for pool in pools for account in pool]
    site = accounts[0].tenant.site
    _user, secret = make_cashier(site)
    ids = [[account.pk for account in pool] for pool in pools]
    print(
        f"site {site.pk}: {len(accounts)} {args.fee_control} accounts, flat tariff with a 2 % fee;"
        f" each sale {AMOUNT} CNY cash"
    )
    count_statements(secret, accounts[0].pk, args.show_sql)
    prefix = f"bench-{time.time_ns()}"
    connection.close()  # the clients fork from this process

    log = settings.DATA_DIR / "bench-api-server.log"
    port = free_port()
    process = start_server(
        port, args.workers, args.threads, args.unprepared, log, log_level.upper()
    )
    answered = 0
    try:
        wait_until_up(process, port, secret, log, args.workers)
        print(
            f"server: pems serve --bind {HOST}:{port} --workers {args.workers}"
            f" --threads {args.threads} (gthread, access log to {log}),"
            f" prepared statements {'off' if args.unprepared else 'on'}"
            f"{'' if connection.vendor == 'postgresql' else ' (n/a: not PostgreSQL)'}"
        )
        server = Server(port, process.pid, children_of(process.pid))
        # Warm-up, a new connection a call so that every worker takes some: each worker thread
        # opens its database connection and prepares its statements.
        answered += throughput(server, secret, ids, f"{prefix}-warm", 1.5, 1, warm_up=True)
        server.workers = workers = children_of(process.pid)
        if len(workers) != args.workers:
            print(f"  NOTE: {len(workers)} worker processes found, {args.workers} expected")
        answered += throughput(
            server, secret, ids, f"{prefix}-run", args.seconds, args.reconnect_every
        )
        answered += paced(
            server, secret, ids, f"{prefix}-paced", args.seconds, args.rate, args.paced_threads
        )
        if children_of(process.pid) != workers:
            print("  NOTE: the gunicorn workers changed during the run (one restarted?)")
    finally:
        stop_server(process)
    verify(site, prefix, answered)


if __name__ == "__main__":
    main()
