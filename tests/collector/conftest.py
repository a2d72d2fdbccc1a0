"""Collector fixtures: a simulated site served on real sockets from a background thread.

The collector under test runs its own event loop (``asyncio.run``) and its own
database threads, exactly as ``pems collect`` does; the simulator runs on a
second loop in a daemon thread so the test body stays synchronous and can use
the ORM directly. Tests use the transactional database so the collector's
threads see committed rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from pems.collector.config import CollectorConfig
from pems.collector.service import Collector, Summary
from pems.devices.security import MasterKey
from pems.inventory.choices import FeeControl, Phases
from pems.inventory.models import Gateway, Meter, MeteringPoint, Site
from pems.sim.clock import Clock, ManualClock
from pems.sim.meter import SimMeter
from pems.sim.site import SimSite
from pems.siteplan import SitePlan
from tests.factories import catalogue_model

KEY_HEX = "00112233445566778899AABBCCDDEEFF"
KEY = MasterKey.parse(KEY_HEX)
START = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
T = TypeVar("T")


class SimThread:
    """A :class:`SimSite` on its own event loop in a daemon thread."""

    def __init__(
        self, plan: SitePlan, *, bus_delay: bool = False, clock: Clock | None = None
    ) -> None:
        self.clock = clock or ManualClock(START)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.site = SimSite(plan, master_key=KEY, clock=self.clock, bus_delay=bus_delay)
        self.run(self.site.start)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (a coroutine function or a plain callable) on the simulator's loop."""

        async def call() -> Any:
            result = fn()
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=30)

    def meter(self, gateway: str, address: int) -> SimMeter:
        return self.site.meter(gateway, address)

    def stop(self) -> None:
        self.run(self.site.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


def install(sim: SimThread, name: str = "Plaza") -> dict[tuple[str, int], MeteringPoint]:
    """Create the simulated site's inventory; returns points by (gateway code, bus address)."""
    site = Site.objects.create(name=name)
    gateways = {
        g.code: Gateway.objects.create(
            site=site,
            name=g.code,
            host=g.host,
            port=g.port,
            protocol=g.spec.protocol.value,
            baud=g.spec.serial.baud,
            parity=g.spec.serial.parity.value,
        )
        for g in sim.site.gateways
    }
    boxes: dict[tuple[str, str], list[Any]] = defaultdict(list)
    singles = []
    for gateway in sim.site.gateways:
        for sim_meter in gateway.meters.values():
            point = sim_meter.point
            if point.circuit is not None:
                boxes[(gateway.code, point.circuit.box)].append(point)
            else:
                singles.append((gateway.code, [point]))
    points = {}
    for code, group in singles + [(code, group) for (code, _), group in boxes.items()]:
        group.sort(key=lambda p: p.address)
        first = group[0]
        meter = Meter.objects.create(
            gateway=gateways[code],
            address=first.address,
            address_count=len(group),
            number=first.meter_number,
            model=catalogue_model(first.model.value),
        )
        for index, point in enumerate(group, start=1):
            phases = (
                point.circuit.phases
                if point.circuit
                else (3 if first.model.value == "DTSY1352-NK" else 1)
            )
            points[(code, point.address)] = MeteringPoint.objects.create(
                meter=meter,
                circuit=index,
                number=point.meter_number if len(group) > 1 else "",
                phases=Phases.THREE if phases == 3 else Phases.SINGLE,
                utility="water" if first.model.value == "WATER-VALVE" else "electricity",
                fee_control=FeeControl.METER_SIDE
                if point.fee_control.value == "meter-side"
                else FeeControl.SERVER_SIDE,
            )
    return points


def collect(sweeps: int = 1, **overrides: Any) -> tuple[Collector, Summary]:
    """Run a collector for ``sweeps`` sweeps with test-friendly timing."""
    settings = {"timeout": 0.3, "backoff_base": 0.2, "backoff_max": 1.0, "flush_seconds": 0.05}
    collector = Collector(CollectorConfig(**(settings | overrides)))
    summary = asyncio.run(collector.run(sweeps=sweeps))
    return collector, summary


@pytest.fixture
def master_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEMS_MASTER_KEY", KEY_HEX)


@pytest.fixture
def plaza_sim() -> Iterator[SimThread]:
    from pems.siteplan import plaza

    sim = SimThread(plaza())
    yield sim
    sim.stop()


@pytest.fixture
def mixed_sim() -> Iterator[SimThread]:
    """The `mixed` site: every meter model on every gateway protocol."""
    from pems.siteplan import mixed

    sim = SimThread(mixed())
    yield sim
    sim.stop()
