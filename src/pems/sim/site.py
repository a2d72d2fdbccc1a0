"""A whole simulated site: every gateway of a plan served on TCP, meters to inspect and fault.

In-process use (tests, the collector's fixtures)::

    async with run_site(plaza(), master_key=key, bus_delay=False) as site:
        endpoint = site.endpoints[0]            # gateway, host, port, protocol, meters
        site.meter("GW-S1", 5).faults.dead = True
        site.gateway("GW-S1").drop_connections()
        site.served_plan                         # the plan with the ports actually served
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from pems.devices.security import MasterKey
from pems.sim.clock import Clock, ScaledClock
from pems.sim.dlt645_face import Dlt645Face
from pems.sim.gateway import SimGateway
from pems.sim.meter import SimMeter
from pems.sim.modbus_face import ModbusFace
from pems.sim.timing import DEFAULT_TURNAROUND, BusTiming
from pems.siteplan import Gateway, Protocol, SitePlan

#: ADF300 variant codes by the largest box they fit (0/1/2 = 36/24/12 circuits).
_ADF_VARIANTS = ((12, 2), (24, 1), (36, 0))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one simulated gateway listens."""

    gateway: str
    host: str
    port: int
    protocol: Protocol
    meters: int

    def __str__(self) -> str:
        return (
            f"{self.gateway} → {self.host}:{self.port} {self.protocol.value}, {self.meters} meters"
        )


class SiteError(Exception):
    """A simulated site cannot start (port taken, unknown gateway or meter)."""


class SimSite:
    """The simulated field of one plan (all or a subset of its gateways)."""

    def __init__(
        self,
        plan: SitePlan,
        *,
        master_key: MasterKey,
        clock: Clock | None = None,
        speed: int = 1,
        load: int = 1,
        bus_delay: bool = True,
        turnaround: float = DEFAULT_TURNAROUND,
        key_version: int = 1,
        gateways: Sequence[str] | None = None,
    ) -> None:
        self.plan = plan
        self.clock: Clock = clock or ScaledClock(speed=speed)
        modbus, dlt645 = ModbusFace(master_key, key_version), Dlt645Face(master_key, key_version)
        try:
            chosen = plan.gateways if gateways is None else [plan.gateway(c) for c in gateways]
        except KeyError as exc:
            raise SiteError(str(exc)) from None
        self._gateways: dict[str, SimGateway] = {}
        for spec in chosen:
            timing = BusTiming(spec.serial.baud, turnaround, enabled=bus_delay)
            if len({point.address for point in spec.meters}) != len(spec.meters):
                raise SiteError(f"gateway {spec.code!r} has two meters on one address")
            meters = [SimMeter(point, self.clock, load=load) for point in spec.meters]
            _set_variants(meters)
            self._gateways[spec.code] = SimGateway(spec, meters, timing, modbus, dlt645)

    @property
    def gateways(self) -> list[SimGateway]:
        """Simulated gateways in plan order."""
        return list(self._gateways.values())

    def gateway(self, code: str) -> SimGateway:
        """A gateway by code."""
        try:
            return self._gateways[code]
        except KeyError:
            raise SiteError(f"no simulated gateway {code!r}") from None

    def meter(self, gateway: str, address: int) -> SimMeter:
        """A meter by gateway code and bus address."""
        try:
            return self.gateway(gateway).meters[address]
        except KeyError:
            raise SiteError(f"no meter at address {address} on gateway {gateway!r}") from None

    async def start(self, host: str = "127.0.0.1", base_port: int | None = None) -> list[Endpoint]:
        """Listen on ``base_port``, ``base_port + 1`` …, or on free ports when None."""
        try:
            for index, gateway in enumerate(self._gateways.values()):
                await gateway.start(host, 0 if base_port is None else base_port + index)
        except OSError as exc:
            await self.stop()
            raise SiteError(f"cannot listen for the simulated site: {exc}") from exc
        return self.endpoints

    async def stop(self) -> None:
        """Stop every gateway."""
        await asyncio.gather(*(g.stop() for g in self._gateways.values()))

    @property
    def endpoints(self) -> list[Endpoint]:
        """Where each gateway listens (after :meth:`start`)."""
        return [
            Endpoint(g.code, g.host, g.port, g.spec.protocol, len(g.meters))
            for g in self._gateways.values()
        ]

    @property
    def served_plan(self) -> SitePlan:
        """The plan with each gateway's real endpoint, for ``--export-sheet``."""
        served: list[Gateway] = []
        for spec in self.plan.gateways:
            sim = self._gateways.get(spec.code)
            served.append(spec.with_endpoint(sim.host, sim.port) if sim else spec)
        return replace(self.plan, gateways=tuple(served))


def _set_variants(meters: list[SimMeter]) -> None:
    """ADF300 circuits show their box's variant (by how many circuits the box has)."""
    sizes = Counter(m.point.circuit.box for m in meters if m.point.circuit)
    for meter in meters:
        if meter.point.circuit:
            size = sizes[meter.point.circuit.box]
            meter.variant_code = next(code for limit, code in _ADF_VARIANTS if size <= limit)


@asynccontextmanager
async def run_site(
    plan: SitePlan,
    *,
    master_key: MasterKey,
    host: str = "127.0.0.1",
    base_port: int | None = None,
    clock: Clock | None = None,
    speed: int = 1,
    load: int = 1,
    bus_delay: bool = True,
    turnaround: float = DEFAULT_TURNAROUND,
) -> AsyncIterator[SimSite]:
    """Serve ``plan`` for the duration of the block (free ports unless ``base_port``)."""
    site = SimSite(
        plan,
        master_key=master_key,
        clock=clock,
        speed=speed,
        load=load,
        bus_delay=bus_delay,
        turnaround=turnaround,
    )
    await site.start(host, base_port)
    try:
        yield site
    finally:
        await site.stop()
