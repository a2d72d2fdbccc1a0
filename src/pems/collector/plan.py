"""What one collector process reads: its shard of the gateways, as typed records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pems.inventory.choices import GatewayProtocol
from pems.inventory.models import Gateway, MeteringPoint

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ValueError):
    """A ``--shard`` value that is not ``K/N`` with 1 ≤ K ≤ N."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → (2, 4): this process takes gateways whose ``id % 4 == 1``."""
    match = _SHARD.match(text)
    if not match:
        raise ShardError(f"--shard must look like K/N (e.g. 2/4), not {text!r}")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise ShardError(f"--shard {text}: K must be between 1 and N")
    return index, count


@dataclass(frozen=True, slots=True)
class Target:
    """One bus address to read: a metering point (a meter or one ADF300 circuit)."""

    point_id: int
    meter_id: int
    address: int
    model: str
    meter_number: str
    key_version: int

    @property
    def driver_address(self) -> int | str:
        """The address as the driver takes it (12 digits for DL/T 645)."""
        return f"{self.address:012d}" if self.model == "DLT645-GENERIC" else self.address


@dataclass(frozen=True, slots=True)
class BusSpec:
    """One gateway (one RS485 bus) and the points behind it, in address order."""

    gateway_id: int
    site_id: int
    site: str
    name: str
    host: str
    port: int
    protocol: str
    baud: int
    tz: ZoneInfo
    targets: tuple[Target, ...]

    @property
    def endpoint(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def is_dlt645(self) -> bool:
        """True for a DL/T 645 bus."""
        return self.protocol == GatewayProtocol.DLT645_OVER_TCP


def load_buses(shard: tuple[int, int] = (1, 1)) -> list[BusSpec]:
    """Enabled gateways of this shard with their installed meters' points.

    Shard ``K/N`` takes the gateways whose ``id % N == K - 1``: the N shards
    partition the gateways, so together they read every meter exactly once.
    """
    index, count = shard
    gateways = {
        g.pk: g
        for g in Gateway.objects.filter(enabled=True).select_related("site")
        if g.pk % count == index - 1
    }
    targets: dict[int, list[Target]] = {pk: [] for pk in gateways}
    points = (
        MeteringPoint.objects.filter(meter__gateway_id__in=gateways, meter__removed_on__isnull=True)
        .select_related("meter__model")
        .order_by("meter__gateway_id", "meter__address", "circuit")
    )
    for point in points.iterator(chunk_size=5000):
        meter = point.meter
        targets[meter.gateway_id].append(
            Target(
                point_id=point.pk,
                meter_id=meter.pk,
                address=meter.address + point.circuit - 1,
                model=meter.model.code,
                meter_number=point.number or meter.number,
                key_version=meter.key_version,
            )
        )
    return [
        BusSpec(
            gateway_id=g.pk,
            site_id=g.site_id,
            site=g.site.name,
            name=g.name,
            host=g.host,
            port=g.port,
            protocol=g.protocol,
            baud=g.baud,
            tz=ZoneInfo(g.site.time_zone),
            targets=tuple(targets[g.pk]),
        )
        for g in sorted(gateways.values(), key=lambda g: g.pk)
    ]
