"""The collector process: bus workers, the command poller, the writer thread, metrics.

Database work never runs on the event loop: readings are buffered and handed
in batches to one writer thread (:class:`~pems.collector.store.Store`), and
command bookkeeping runs on a second thread so a big batch never delays a
trip. ``run(sweeps=1)`` is ``pems collect --once``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import close_old_connections, connection
from django.utils import timezone

from pems.collector import commands as cmd_db
from pems.collector.commands import CommandRunner, CommandTask
from pems.collector.config import CollectorConfig
from pems.collector.metrics import CommandStats, render, serve_metrics
from pems.collector.plan import BusSpec, load_buses
from pems.collector.readings import Reading
from pems.collector.stats import Counters, GatewayCounters, StatsSnapshot
from pems.collector.store import Batch, Store, load_counters
from pems.collector.worker import BusWorker
from pems.control.models import Command, CommandStatus

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Batches queued for the writer before workers' buffers wait for it.
MAX_PENDING_WRITES = 2


@dataclass(frozen=True, slots=True)
class Summary:
    """What a run did: points read and failed in the last sweep, and wall time."""

    buses: int
    points: int
    read: int
    offline: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.buses} buses, {self.points} points: {self.read} read, "
            f"{self.offline} offline/unanswered, {self.seconds:.2f} s"
        )


class Collector:
    """Reads every point of its shard and executes commands; see ``run``."""

    def __init__(self, config: CollectorConfig, buses: list[BusSpec] | None = None) -> None:
        self.config = config
        self._buses = buses
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="pems-writer")
        self._command_db = ThreadPoolExecutor(1, thread_name_prefix="pems-commands")
        self._store = Store(config.interval, config.clock_drift_seconds)
        self._batch = Batch()
        self._dirty: set[int] = set()
        self._pending: list[asyncio.Future[None]] = []
        self.workers: list[BusWorker] = []
        self.commands = CommandStats()
        self.metrics_port: int | None = None
        self._meter_counters: dict[int, Counters] = {}
        self._in_hand_tasks: dict[int, CommandTask] = {}

    # -- sink (called by workers on the loop) ------------------------------------

    def reading(self, reading: Reading) -> None:
        self._batch.readings.append(reading)

    def offline(self, point_id: int) -> None:
        self._batch.offline.append((point_id, timezone.now()))

    def dirty(self, meter_id: int) -> None:
        self._dirty.add(meter_id)

    def command_done(self, task: CommandTask) -> None:
        self.commands.in_hand.discard(task.pk)

    # -- running -------------------------------------------------------------------

    async def run(
        self,
        sweeps: int | None = None,
        stop: asyncio.Event | None = None,
        metrics_port: int | None = None,
    ) -> Summary:
        """Run ``sweeps`` sweeps per bus (forever when None, until ``stop`` is set)."""
        started = time.monotonic()
        await self._start()
        polled = asyncio.Event()
        tasks = [asyncio.create_task(self._poll_commands(polled))]
        server = None
        if metrics_port is not None:
            server = await serve_metrics(self.metrics_page, port=metrics_port)
            self.metrics_port = server.sockets[0].getsockname()[1]
        tasks.append(asyncio.create_task(self._flusher()))
        # Commands already queued run in the first sweep.
        await asyncio.wait(
            {tasks[0], asyncio.create_task(polled.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        runs = [asyncio.create_task(w.run(sweeps)) for w in self.workers]
        waiter = asyncio.gather(*runs)
        stopper = asyncio.create_task(stop.wait() if stop else asyncio.Event().wait())
        failed: BaseException | None = None
        try:
            # The flusher only ends by failing: storage is broken, so stop reading.
            await asyncio.wait({waiter, stopper, tasks[-1]}, return_when=asyncio.FIRST_COMPLETED)
            for ended in (waiter, tasks[-1]):
                if ended.done() and not ended.cancelled():
                    failed = failed or ended.exception()
        finally:
            await _cancel_all([*runs, *tasks, stopper])
            await asyncio.gather(waiter, return_exceptions=True)  # done: every run has ended
            if server is not None:
                server.close()
            await self.flush()
            await self._drain()
            await self._shutdown_threads()
        if failed is not None:
            raise failed
        return self.summary(time.monotonic() - started)

    def summary(self, seconds: float) -> Summary:
        """Counts from each bus's last sweep."""
        last = [w.last_sweep for w in self.workers if w.last_sweep is not None]
        return Summary(
            buses=len(self.workers),
            points=sum(len(w.targets) for w in self.workers),
            read=sum(s.read for s in last),
            offline=sum(s.failed + s.skipped for s in last),
            seconds=seconds,
        )

    def metrics_page(self) -> str:
        """The Prometheus text page."""
        return render(self.workers, self.commands)

    async def _start(self) -> None:
        buses = self._buses
        if buses is None:
            buses = await self._db(self._writer, load_buses, self.config.shard)
        meters, gateways = await self._db(
            self._writer,
            load_counters,
            [t.meter_id for b in buses for t in b.targets],
            [b.gateway_id for b in buses],
        )
        self._meter_counters = meters
        runner = CommandRunner(
            self._command_call, self.config.command_max_attempts, self.config.command_retry_seconds
        )
        self.workers = [
            BusWorker(
                spec,
                self.config,
                self,
                runner,
                meters,
                gateways.setdefault(spec.gateway_id, GatewayCounters()),
            )
            for spec in buses
        ]

    # -- database calls off the loop ---------------------------------------------

    @staticmethod
    async def _db(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def _command_call(self, fn: Callable[..., T], *args: Any) -> T:
        result = await self._db(self._command_db, fn, *args)
        if fn is cmd_db.finish:
            self._settled(args[0], args[1])
        return result

    def _settled(self, pk: int, status: str) -> None:
        task = self._in_hand_tasks.pop(pk, None)
        if status == CommandStatus.CONFIRMED:
            self.commands.confirmed += 1
        else:
            self.commands.failed += 1
        if task is not None:
            latency = (timezone.now() - task.created_at).total_seconds()
            self.commands.latency_sum += latency
            self.commands.last_latency = latency

    async def _poll_commands(self, polled: asyncio.Event) -> None:
        by_gateway = {w.spec.gateway_id: w for w in self.workers}
        while True:
            tasks = await self._db(
                self._command_db, cmd_db.fetch_open, set(by_gateway), set(self.commands.in_hand)
            )
            for task in tasks:
                self.commands.in_hand.add(task.pk)
                self._in_hand_tasks[task.pk] = task
                by_gateway[task.gateway_id].offer(task)
            self.commands.open_in_db = await self._db(self._command_db, _open_count)
            polled.set()
            await asyncio.sleep(self.config.command_poll_seconds)

    # -- batching ------------------------------------------------------------------

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.config.flush_seconds)
            await self.flush()

    async def flush(self) -> None:
        """Hand the buffered readings, offline marks and dirty counters to the writer."""
        if not self._batch and not self._dirty:
            return
        batch, self._batch = self._batch, Batch()
        batch.stats = self._stats_snapshot()
        # Submit before waiting: a cancelled flush must never lose the batch it took.
        self._pending.append(
            asyncio.get_running_loop().run_in_executor(self._writer, self._store.write, batch)
        )
        while len(self._pending) > MAX_PENDING_WRITES:
            await asyncio.shield(self._pending[0])  # raises if that batch failed
            self._pending.pop(0)

    def _stats_snapshot(self) -> StatsSnapshot:
        dirty, self._dirty = self._dirty, set()
        meters = {m: dataclasses.replace(self._meter_counters[m]) for m in dirty}
        gateways = {w.spec.gateway_id: dataclasses.replace(w.counters) for w in self.workers}
        return StatsSnapshot(meters, gateways)

    async def _drain(self) -> None:
        """Wait for every batch handed to the writer; the first failure is raised."""
        pending, self._pending = self._pending, []
        results = await asyncio.gather(*pending, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            log.error("a batch of readings could not be stored: %s", error)
        if errors:
            raise errors[0]

    async def _shutdown_threads(self) -> None:
        for pool in (self._writer, self._command_db):
            with contextlib.suppress(RuntimeError):
                await self._db(pool, _close_connection)
            pool.shutdown(wait=True)


async def _cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has ended.

    Cancelled again while any runs on: a library that swallows one
    cancellation (as Python 3.11's ``asyncio.wait_for`` can when its inner
    future finishes at the same moment) must not keep a bus worker alive.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
        if pending:
            log.warning("%d collector tasks ignored a cancellation; cancelling again", len(pending))


def _open_count() -> int:
    close_old_connections()
    return Command.objects.filter(status__in=[CommandStatus.PENDING, CommandStatus.SENT]).count()


def _close_connection() -> None:
    connection.close()
