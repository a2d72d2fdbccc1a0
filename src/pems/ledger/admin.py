"""Read-only admin views of the ledger: it changes only through actions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from pems.core.admin import ReadOnlyAdmin
from pems.ledger.models import JournalEntry, LedgerAccount, Posting


class PostingInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Posting
    fields = ["ledger_account", "amount"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["pk", "created_at", "kind", "account", "actor_label", "reason"]
    list_filter = ["kind", "site"]
    search_fields = ["idempotency_key", "reason", "actor_label"]
    inlines = [PostingInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["key", "kind", "site", "balance", "currency"]
    list_filter = ["kind", "site"]
    search_fields = ["key"]
