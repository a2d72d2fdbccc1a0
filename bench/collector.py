"""Collector benchmarks: figures to print and record in docs/benchmarks.md, not tests.

    .venv/bin/python bench/collector.py plaza-timing   # (a) real 9600-baud timing vs bus floor
    .venv/bin/python bench/collector.py scale          # (b) 3,125 × 32 meters, bus delay off
    .venv/bin/python bench/collector.py plaza-dead     # (c) 10 % dead meters vs fault-free

The simulated site runs in a separate process (the field is not the head-end);
the collector runs here exactly as ``pems collect`` runs it. The database is
PEMS_DATABASE_URL, else a SQLite file under var/bench — it is DROPPED and rebuilt.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAZA_FLOOR_GOAL, DEAD_GOAL, SCALE_GOAL_S = 1.15, 1.2, 60.0


def say(line: str) -> None:
    """A figure for the console (and for docs/benchmarks.md)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serve(spec: str, bus_delay: bool, dead_every: int, conn: Connection) -> None:
    """Simulator process: serve the plan, report endpoints, run until told to stop."""
    from pems.devices.security import MasterKey
    from pems.sim.site import SimSite
    from pems.siteplan import load_plan

    async def main() -> None:
        site = SimSite(
            load_plan(spec),
            master_key=MasterKey.parse("00112233445566778899AABBCCDDEEFF"),
            bus_delay=bus_delay,
        )
        await site.start()
        dead = []
        every = [(g.code, a, m) for g in site.gateways for a, m in sorted(g.meters.items())]
        for index, (code, address, meter) in enumerate(every):
            if dead_every and index % dead_every == dead_every // 2:
                meter.faults.dead = True
                dead.append((code, address))
        conn.send(([(g.code, g.host, g.port) for g in site.gateways], dead))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)
        await site.stop()

    asyncio.run(main())


def setup_django() -> None:
    """A fresh schema in the benchmark database (it is disposable: everything is dropped)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pems.settings")
    os.environ.setdefault("PEMS_DATA_DIR", str(ROOT / "var" / "bench"))
    if "PEMS_DATABASE_URL" not in os.environ:
        path = ROOT / "var" / "bench" / "bench.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob("bench.sqlite3*"):
            stale.unlink()
        os.environ["PEMS_DATABASE_URL"] = f"sqlite:///{path}"
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0)


def install(spec: str, endpoints: list[tuple[str, str, int]]) -> int:
    """Bulk-create the plan's inventory at the served endpoints; returns the point count."""
    from pems.inventory.models import Gateway, Meter, MeteringPoint, Site
    from pems.inventory.models.catalogue import MeterModel, sync_catalogue
    from pems.siteplan import load_plan

    sync_catalogue()
    plan = load_plan(spec)
    models = {m.code: m for m in MeterModel.objects.all()}
    site = Site.objects.create(name=plan.site)
    where = {code: (host, port) for code, host, port in endpoints}
    gateways = Gateway.objects.bulk_create(
        [
            Gateway(
                site=site,
                name=g.code,
                host=where[g.code][0],
                port=where[g.code][1],
                protocol=g.protocol.value,
                baud=g.serial.baud,
            )
            for g in plan.gateways
        ],
        batch_size=1000,
    )
    meters = Meter.objects.bulk_create(
        [
            Meter(gateway=gw, address=p.address, number=p.meter_number, model=models[p.model.value])
            for gw, g in zip(gateways, plan.gateways, strict=True)
            for p in g.meters
        ],
        batch_size=2000,
    )
    MeteringPoint.objects.bulk_create(
        [MeteringPoint(meter=m, circuit=1, phases=3) for m in meters], batch_size=2000
    )
    return len(meters)


def cpu_seconds() -> str:
    """User + system CPU of this process so far, and of its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        f"{me.ru_utime + me.ru_stime:.1f} s (this process), "
        f"{kids.ru_utime + kids.ru_stime:.1f} s (finished children)"
    )


class Field:
    """The simulated site in its own process."""

    def __init__(self, spec: str, *, bus_delay: bool, dead_every: int = 0) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=serve, args=(spec, bus_delay, dead_every, child))
        self._proc.start()
        self.endpoints, self.dead = self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._proc.join(timeout=30)


def collector(**overrides: object):  # type: ignore[no-untyped-def]
    from pems.collector.config import CollectorConfig
    from pems.collector.service import Collector

    return Collector(CollectorConfig(**overrides))  # type: ignore[arg-type]


def plaza_floor() -> tuple[float, int]:
    """Bus floor of one plaza sweep (slowest bus) with the simulator's timing model."""
    from pems.sim.timing import BusTiming
    from pems.siteplan import plaza

    live_reply = 5 + 2 * 48  # one FC03 of the 48-register live block
    floors = [
        len(g.meters) * BusTiming(g.serial.baud).transaction(8, live_reply)
        for g in plaza().gateways
    ]
    return max(floors), max(len(g.meters) for g in plaza().gateways)


def bench_plaza_timing(sweeps: int) -> None:
    field = Field("plaza", bus_delay=True)
    try:
        install("plaza", field.endpoints)
        floor, most = plaza_floor()
        times = []
        for _ in range(sweeps):
            c = collector()
            summary = asyncio.run(c.run(sweeps=1))
            times.append(max(w.last_sweep.seconds for w in c.workers if w.last_sweep))
            say(f"  sweep: {summary}; slowest bus {times[-1]:.3f} s")
        best = statistics.median(times)
        say(f"(a) plaza, 9600 baud: bus floor {floor:.3f} s (busiest bus, {most} meters); "
              f"median slowest-bus sweep {best:.3f} s = {best / floor:.3f}× floor "
              f"(goal ≤ {PLAZA_FLOOR_GOAL}×)")  # fmt: skip
    finally:
        field.stop()


def bench_scale(gateways: int, meters: int, shards: int) -> None:
    from django.db import connection

    from pems.metering.models import IntervalReading, PointState

    spec = f"scale:{gateways}x{meters}"
    field = Field(spec, bus_delay=False)
    try:
        t0 = time.monotonic()
        points = install(spec, field.endpoints)
        say(f"  installed {points} points in {time.monotonic() - t0:.1f} s ({connection.vendor})")
        connection.close()
        t0 = time.monotonic()
        if shards == 1:
            c = collector(timeout=5.0, batch_size=5000, flush_seconds=1.0)
            say(f"  {asyncio.run(c.run(sweeps=1))}")
        else:
            run_shards(shards)
        took = time.monotonic() - t0
        say(f"  CPU: {cpu_seconds()}")
        stored = PointState.objects.filter(read_at__isnull=False).count()
        intervals = IntervalReading.objects.count()
        how = "one process" if shards == 1 else f"{shards} shard processes (pems collect --once)"
        say(f"(b) {points} meters on {gateways} gateways, bus delay off, {connection.vendor}, "
            f"{how}: read and stored in {took:.1f} s; {stored} states, {intervals} interval rows "
            f"(goal ≤ {SCALE_GOAL_S:.0f} s)")  # fmt: skip
    finally:
        field.stop()
        say(f"  CPU after the simulator exited: {cpu_seconds()}")


def run_shards(shards: int) -> None:
    """``pems collect --once --shard K/N`` for every K at once; waits for all."""
    command = [sys.executable, "-m", "pems.cli", "collect", "--once", "--timeout", "5"]
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen(  # noqa: S603 - our own CLI with fixed arguments
            [*command, "--shard", f"{k}/{shards}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for k in range(1, shards + 1)
    ]
    for proc in procs:
        out, _ = proc.communicate()
        say(f"  {out.decode().strip().splitlines()[-1]}")


def _healthy_sweeps(spec: str, dead_every: int, sweeps: int) -> tuple[list[float], int]:
    field = Field(spec, bus_delay=True, dead_every=dead_every)
    try:
        from django.core.management import call_command

        call_command("flush", interactive=False, verbosity=0)
        install(spec, field.endpoints)
        c = collector()
        times: list[float] = []

        async def run() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(c.run(stop=stop))
            seen = 0
            while len(times) < sweeps:
                await asyncio.sleep(0.05)
                done = min(w.counters.sweeps for w in c.workers) if c.workers else 0
                if done > seen:
                    seen = done
                    times.append(max(w.last_sweep.seconds for w in c.workers if w.last_sweep))
            stop.set()
            await task

        asyncio.run(run())
        return times, len(field.dead)
    finally:
        field.stop()


def bench_plaza_dead(sweeps: int, dead_every: int) -> None:
    clean, _ = _healthy_sweeps("plaza", 0, sweeps)
    faulty, dead = _healthy_sweeps("plaza", dead_every, sweeps)
    say(f"  fault-free slowest-bus sweeps: {[round(t, 2) for t in clean]}")
    say(f"  with {dead} dead meters:       {[round(t, 2) for t in faulty]}")
    base = statistics.median(clean)
    steady = statistics.median(faulty[len(faulty) // 2 :])
    first = faulty[0]
    mean = statistics.mean(faulty) / statistics.mean(clean)
    say(f"(c) plaza with {dead} dead meters: steady sweep {steady:.3f} s vs fault-free "
          f"{base:.3f} s = {steady / base:.3f}× (goal ≤ {DEAD_GOAL}×); first sweep "
          f"{first:.3f} s = {first / base:.3f}× (every dead meter costs one timeout); "
          f"mean of all {len(faulty)} sweeps {mean:.3f}×")  # fmt: skip


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="which", required=True)
    a = sub.add_parser("plaza-timing")
    a.add_argument("--sweeps", type=int, default=3)
    b = sub.add_parser("scale")
    b.add_argument("--gateways", type=int, default=3125)
    b.add_argument("--meters", type=int, default=32)
    b.add_argument("--shards", type=int, default=1, help="collector processes (pems collect)")
    c = sub.add_parser("plaza-dead")
    c.add_argument("--sweeps", type=int, default=8)
    c.add_argument("--dead-every", type=int, default=10)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    setup_django()
    if args.which == "plaza-timing":
        bench_plaza_timing(args.sweeps)
    elif args.which == "scale":
        bench_scale(args.gateways, args.meters, args.shards)
    else:
        bench_plaza_dead(args.sweeps, args.dead_every)


if __name__ == "__main__":
    main(sys.argv[1:])
