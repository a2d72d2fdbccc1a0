"""Admin pages for the inventory; every edit is audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pems.audit.admin import AuditedAdmin
from pems.core.admin import ReadOnlyAdmin
from pems.inventory.models import Gateway, Location, Meter, MeteringPoint, MeterModel, Site


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ["name", "time_zone", "currency", "locale"]
    search_fields = ["name"]
    #: Set when the site is made; changed on the console's Site defaults page, which
    #: also sends the new thresholds to the meter-side meters that use them.
    DEFAULTS = [
        "default_alarm1_threshold",
        "default_alarm2_threshold",
        "default_overdraft_limit",
        "default_reconnect_minimum",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, *(self.DEFAULTS if obj is not None else [])]


@admin.register(Location)
class LocationAdmin(AuditedAdmin):
    list_display = ["__str__", "kind", "site"]
    list_filter = ["site", "kind"]
    search_fields = ["name"]
    autocomplete_fields = ["parent"]


@admin.register(Gateway)
class GatewayAdmin(AuditedAdmin):
    list_display = ["name", "site", "host", "port", "protocol", "baud", "parity", "enabled"]
    list_filter = ["site", "protocol", "enabled"]
    search_fields = ["name", "host"]


class MeteringPointInline(admin.TabularInline):  # type: ignore[type-arg]
    model = MeteringPoint
    extra = 0
    fields = ["circuit", "number", "phases", "utility", "fee_control", "name", "room"]
    autocomplete_fields = ["room"]


@admin.register(Meter)
class MeterAdmin(AuditedAdmin):
    list_display = ["number", "gateway", "display_address", "model", "installed_on", "removed_on"]
    list_filter = ["model", "gateway__site", "gateway"]
    search_fields = ["number"]
    autocomplete_fields = ["location"]
    inlines = [MeteringPointInline]


@admin.register(MeteringPoint)
class MeteringPointAdmin(AuditedAdmin):
    list_display = ["__str__", "meter", "circuit", "phases", "utility", "fee_control", "room"]
    list_filter = ["utility", "fee_control", "meter__gateway__site"]
    search_fields = ["meter__number", "name", "room__name"]
    autocomplete_fields = ["meter", "room"]


@admin.register(MeterModel)
class MeterModelAdmin(ReadOnlyAdmin):
    """Read-only: the catalogue is data in pems/devices/catalogue.toml, loaded by `pems init`."""

    list_display = ["code", "name", "utility", "protocol", "meter_side", "max_circuits"]
