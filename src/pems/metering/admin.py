"""Admin pages for collected data (read-only: the collector writes it)."""

from __future__ import annotations

from django.contrib import admin

from pems.core.admin import ReadOnlyAdmin
from pems.metering.models import (
    DailyFreeze,
    GatewayCommStats,
    IntervalReading,
    MeterCommStats,
    MeterEvent,
    PointState,
)


@admin.register(PointState)
class PointStateAdmin(ReadOnlyAdmin):
    list_display = [
        "point",
        "online",
        "energy_total",
        "remaining_credit",
        "purchase_count",
        "relay_closed",
        "read_at",
    ]
    list_filter = ["online", "relay_closed", "arrears"]


@admin.register(IntervalReading)
class IntervalReadingAdmin(ReadOnlyAdmin):
    list_display = ["point", "interval_start", "energy_total", "remaining_credit"]
    date_hierarchy = "interval_start"


@admin.register(DailyFreeze)
class DailyFreezeAdmin(ReadOnlyAdmin):
    list_display = ["point", "day", "energy_total", "remaining_credit"]
    date_hierarchy = "day"


@admin.register(MeterEvent)
class MeterEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "point", "detail"]
    list_filter = ["kind"]
    date_hierarchy = "at"


@admin.register(MeterCommStats)
class MeterCommStatsAdmin(ReadOnlyAdmin):
    list_display = ["meter", "requests", "failures", "timeouts", "bad_frames", "mean_latency_ms"]


@admin.register(GatewayCommStats)
class GatewayCommStatsAdmin(ReadOnlyAdmin):
    list_display = ["gateway", "requests", "failures", "connect_failures", "last_sweep_ms"]
