"""Freshness and queue figures from the database, for ``pems status`` (any process can ask)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from pems.control.models import Command, CommandStatus
from pems.inventory.models import Gateway

LATENCY_SAMPLE = 200


@dataclass(frozen=True, slots=True)
class GatewayHealth:
    """One gateway: its points, how many answer, and the age of its oldest good reading."""

    site: str
    name: str
    endpoint: str
    points: int
    online: int
    never_read: int
    oldest_reading: datetime | None
    last_sweep_ms: int | None

    def oldest_age(self, now: datetime) -> timedelta | None:
        """Age of the oldest good reading (None when nothing was read yet)."""
        return None if self.oldest_reading is None else now - self.oldest_reading


@dataclass(frozen=True, slots=True)
class CommandHealth:
    """Open commands and recent enqueue-to-confirmation latency."""

    pending: int
    sent: int
    failed_last_day: int
    median_latency: timedelta | None


def gateway_health() -> list[GatewayHealth]:
    """Every enabled gateway's figures, by site then name."""
    installed = Q(meters__removed_on__isnull=True)
    rows = (
        Gateway.objects.filter(enabled=True)
        .select_related("site", "comm_stats")
        .annotate(
            points=Count("meters__metering_points", filter=installed),
            online=Count(
                "meters__metering_points",
                filter=installed & Q(meters__metering_points__state__online=True),
            ),
            read=Count(
                "meters__metering_points",
                filter=installed & Q(meters__metering_points__state__read_at__isnull=False),
            ),
            oldest=Min("meters__metering_points__state__read_at", filter=installed),
        )
        .order_by("site__name", "name")
    )
    return [
        GatewayHealth(
            site=g.site.name,
            name=g.name,
            endpoint=f"{g.host}:{g.port}",
            points=g.points,
            online=g.online,
            never_read=g.points - g.read,
            oldest_reading=g.oldest,
            last_sweep_ms=getattr(getattr(g, "comm_stats", None), "last_sweep_ms", None),
        )
        for g in rows
    ]


def command_health() -> CommandHealth:
    """Queue depth and the median latency of the last confirmed commands."""
    now = timezone.now()
    counts = Command.objects.aggregate(
        pending=Count("id", filter=Q(status=CommandStatus.PENDING)),
        sent=Count("id", filter=Q(status=CommandStatus.SENT)),
        failed=Count(
            "id",
            filter=Q(status=CommandStatus.FAILED, completed_at__gte=now - timedelta(days=1)),
        ),
    )
    recent = Command.objects.filter(status=CommandStatus.CONFIRMED).order_by("-completed_at")
    latencies = [
        done - created
        for created, done in recent.values_list("created_at", "completed_at")[:LATENCY_SAMPLE]
        if done is not None
    ]
    return CommandHealth(
        pending=counts["pending"],
        sent=counts["sent"],
        failed_last_day=counts["failed"],
        median_latency=statistics.median(latencies) if latencies else None,
    )
