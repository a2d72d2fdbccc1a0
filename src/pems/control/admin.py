"""Admin pages for commands (read-only: commands are made by actions, run by the collector)."""

from __future__ import annotations

from django.contrib import admin

from pems.control.models import Command
from pems.core.admin import ReadOnlyAdmin


@admin.register(Command)
class CommandAdmin(ReadOnlyAdmin):
    list_display = [
        "command_id",
        "kind",
        "point",
        "purchase_count",
        "status",
        "attempts",
        "created_at",
        "completed_at",
        "failure_reason",
    ]
    list_filter = ["status", "kind", "failure_kind"]
    search_fields = ["command_id", "idempotency_key", "meter__number"]
    date_hierarchy = "created_at"
