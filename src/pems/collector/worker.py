"""One asyncio worker per bus: strictly one request in flight, commands before reads.

A sweep walks the bus's points in address order. Before each read the worker
runs any command handed to it, so a trip or a credit push waits at most one
read. A meter that fails is skipped with exponential back-off (its breaker),
so a dead meter costs one timeout per back-off window, never one per sweep,
and the connection stays up for its healthy neighbours. When the gateway
itself is unreachable the sweep stops and the worker backs off before
reconnecting.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from typing import Protocol

from django.utils import timezone

from pems.collector.breaker import Breaker
from pems.collector.commands import CommandRunner, CommandTask
from pems.collector.config import CollectorConfig
from pems.collector.plan import BusSpec, Target
from pems.collector.readings import Reading
from pems.collector.stats import Counters, GatewayCounters
from pems.devices.bus import BusConfig, Framing, ModbusBus
from pems.devices.dlt645_bus import Dlt645Bus
from pems.devices.drivers import make_driver
from pems.devices.errors import DeviceError, GatewayUnavailable
from pems.devices.records import MeterDriver, MeterState
from pems.inventory.choices import GatewayProtocol

FRAMINGS = {
    GatewayProtocol.MODBUS_RTU_OVER_TCP: Framing.RTU_OVER_TCP,
    GatewayProtocol.MODBUS_TCP: Framing.MODBUS_TCP,
    GatewayProtocol.DLT645_OVER_TCP: Framing.DLT645,
}
#: DL/T 645 meters answer slower (2400 baud, long turnaround): a floor on their timeout.
DLT645_MIN_TIMEOUT = 1.5
#: After this many failed requests in a row on one bus, reopen the connection and ask
#: the last meter that answered: if it is silent too, the gateway (not the meters) is down.
RECONNECT_AFTER = 3


class Sink(Protocol):
    """Where a worker puts what it learns (the collector buffers it for the writer)."""

    def reading(self, reading: Reading) -> None: ...
    def offline(self, point_id: int) -> None: ...
    def command_done(self, task: CommandTask) -> None: ...
    def dirty(self, meter_id: int) -> None: ...


@dataclass(slots=True)
class SweepResult:
    """One sweep of one bus."""

    read: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    gateway_down: bool = False


class _GatewayDown(Exception):
    pass


class BusWorker:
    """Owns one gateway connection and the drivers of every point behind it."""

    def __init__(
        self,
        spec: BusSpec,
        config: CollectorConfig,
        sink: Sink,
        runner: CommandRunner,
        meter_counters: dict[int, Counters],
        gateway_counters: GatewayCounters,
    ) -> None:
        self.spec = spec
        self.config = config
        self.sink = sink
        self.runner = runner
        self.counters = gateway_counters
        self.meter_counters = meter_counters
        self.bus = _make_bus(spec, config)
        self.drivers: dict[int, MeterDriver] = {
            t.point_id: make_driver(t.model, self.bus, t.driver_address, spec.tz)
            for t in spec.targets
        }
        self.breakers = {
            t.point_id: Breaker(config.backoff_base, config.backoff_max) for t in spec.targets
        }
        self.targets = {t.point_id: t for t in spec.targets}
        self.last_good: dict[int, float] = {}
        self.last_sweep: SweepResult | None = None
        self._gateway = Breaker(config.gateway_backoff_base, config.gateway_backoff_max)
        self._commands: collections.deque[CommandTask] = collections.deque()
        self._wake = asyncio.Event()
        self._streak = 0
        self._known_good: Target | None = None

    def offer(self, task: CommandTask) -> None:
        """Hand a command to this bus; it runs before the next read."""
        self._commands.append(task)
        self._wake.set()

    @property
    def queued(self) -> int:
        """Commands waiting on this bus."""
        return len(self._commands)

    async def run(self, sweeps: int | None = None) -> None:
        """Sweep forever (or ``sweeps`` times), at most one sweep start per ``min_period``."""
        loop = asyncio.get_running_loop()
        done = 0
        try:
            while sweeps is None or done < sweeps:
                started = loop.time()
                result = await self.sweep()
                done += 1
                if result.gateway_down:
                    await self._idle(self._gateway.retry_at - time.monotonic())
                    continue
                await self._idle(started + self.config.min_period - loop.time())
        finally:
            await self.bus.close()

    async def _idle(self, seconds: float) -> None:
        """Wait, running commands as they arrive."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while (left := until - loop.time()) > 0:
            self._wake.clear()
            try:  # not asyncio.wait_for: on 3.11 it can swallow the cancel that stops us
                async with asyncio.timeout(left):
                    await self._wake.wait()
            except TimeoutError:
                return
            try:
                await self._run_commands()
            except _GatewayDown:
                return

    async def sweep(self) -> SweepResult:
        """Read every point whose breaker allows it; commands first."""
        result = SweepResult()
        started = time.monotonic()
        try:
            if not self._gateway.allow(started):
                raise _GatewayDown
            for target in self.spec.targets:
                await self._run_commands()
                if not self.breakers[target.point_id].allow(time.monotonic()):
                    result.skipped += 1
                elif await self._read(target):
                    result.read += 1
                else:
                    result.failed += 1
            await self._run_commands()
            self._gateway.success()
        except _GatewayDown:
            result.gateway_down = True
            result.failed += len(self.spec.targets) - result.read - result.failed - result.skipped
        result.seconds = time.monotonic() - started
        self.counters.sweeps += 1
        self.counters.last_sweep_ms = int(result.seconds * 1000)
        self.last_sweep = result
        return result

    async def _read(self, target: Target) -> bool:
        state = await self._request(target, self.drivers[target.point_id].read_state)
        if state is None:
            if self._streak >= RECONNECT_AFTER:
                await self._check_gateway(target)
            return False
        self._store(target, state)
        self._known_good = target
        return True

    async def _check_gateway(self, failed: Target) -> None:
        """Several meters in a row were silent: is it them, or the gateway?"""
        self._streak = 0
        await self.bus.close()  # the next request reconnects
        good = self._known_good
        if good is failed:
            return
        if good is None:  # nothing on this bus has answered yet: no sign the gateway works
            exc = GatewayUnavailable(
                f"{RECONNECT_AFTER} meters in a row silent and none has answered yet",
                endpoint=self.spec.endpoint,
            )
            self._gateway_failed(exc)
            raise _GatewayDown from exc
        try:
            state = await self.drivers[good.point_id].read_state()
        except GatewayUnavailable as exc:
            self._gateway_failed(exc)
            raise _GatewayDown from exc
        except DeviceError as exc:
            self._gateway_failed(exc)
            self._known_good = None
            raise _GatewayDown from exc
        self._store(good, state)

    def _store(self, target: Target, state: MeterState) -> None:
        now = timezone.now()
        self.sink.reading(
            Reading(
                target.point_id, target.meter_id, now, now.astimezone(self.spec.tz).date(), state
            )
        )
        self.last_good[target.point_id] = time.time()

    async def _request(self, target: Target, call: object) -> MeterState | None:
        """One read through the breaker and the counters; None when the meter failed."""
        meter = self.meter_counters.setdefault(target.meter_id, Counters())
        breaker = self.breakers[target.point_id]
        t0 = time.perf_counter()
        try:
            state: MeterState = await call()  # type: ignore[operator]
        except GatewayUnavailable as exc:
            self._gateway_failed(exc)
            raise _GatewayDown from exc
        except DeviceError as exc:
            meter.failed(exc)
            self.counters.failed(exc)
            self.sink.dirty(target.meter_id)
            self._streak += 1
            breaker.failure(time.monotonic())
            if breaker.failures == self.config.offline_after:
                self.sink.offline(target.point_id)
            return None
        latency = int((time.perf_counter() - t0) * 1_000_000)
        self._streak = 0
        meter.ok(latency)
        self.counters.ok(latency)
        self.sink.dirty(target.meter_id)
        breaker.success()
        return state

    def _gateway_failed(self, exc: DeviceError) -> None:
        self.counters.connect_failures += 1
        self.counters.last_error = str(exc)[:200]
        self._gateway.failure(time.monotonic())
        if self._gateway.failures == self.config.offline_after:
            for point_id in self.targets:
                self.sink.offline(point_id)

    async def _run_commands(self) -> None:
        while self._commands:
            task = self._commands.popleft()
            target = self.targets.get(task.point_id)
            try:
                if target is not None:
                    state = await self.runner.execute(task, target, self.drivers[task.point_id])
                    if state is not None:
                        self._store(target, state)
                        self.breakers[task.point_id].success()
            except GatewayUnavailable as exc:
                self._gateway_failed(exc)
                raise _GatewayDown from exc
            finally:
                self.sink.command_done(task)


def _make_bus(spec: BusSpec, config: CollectorConfig) -> ModbusBus | Dlt645Bus:
    framing = FRAMINGS[GatewayProtocol(spec.protocol)]
    timeout = config.timeout
    if framing is Framing.DLT645:
        timeout = max(timeout, DLT645_MIN_TIMEOUT)
    bus_config = BusConfig(
        host=spec.host,
        port=spec.port,
        framing=framing,
        timeout=timeout,
        connect_timeout=config.connect_timeout,
        reconnect_backoff=config.gateway_backoff_base,
    )
    return Dlt645Bus(bus_config) if framing is Framing.DLT645 else ModbusBus(bus_config)
