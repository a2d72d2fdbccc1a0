"""Admin for a site's keep-power periods (保电时段); every edit is audited."""

from __future__ import annotations

from django.contrib import admin

from pems.audit.admin import AuditedAdmin
from pems.billing.models import KeepPowerPeriod


@admin.register(KeepPowerPeriod)
class KeepPowerPeriodAdmin(AuditedAdmin):
    list_display = ["site", "start", "end", "on_workdays", "on_weekends", "on_holidays", "reason"]
    list_filter = ["site"]
    autocomplete_fields = ["site"]
