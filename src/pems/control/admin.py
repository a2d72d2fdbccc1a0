"""Admin pages for commands (read-only: commands are made by actions, run by the collector)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from pems.control.models import Command


@admin.register(Command)
class CommandAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
