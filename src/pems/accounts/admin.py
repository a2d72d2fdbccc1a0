"""Admin pages for tenants and accounts; closing goes through the close action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from pems.accounts.actions import AccountClosed, close_account
from pems.accounts.models import Account, AccountMeteringPoint, Tenant
from pems.audit.admin import AuditedAdmin


@admin.register(Tenant)
class TenantAdmin(AuditedAdmin):
    list_display = ["name", "site", "room", "contact_name", "mobile"]
    list_filter = ["site"]
    search_fields = ["name", "contact_name", "mobile", "room__name"]
    autocomplete_fields = ["room"]


class AccountMeteringPointInline(admin.TabularInline):  # type: ignore[type-arg]
    model = AccountMeteringPoint
    extra = 1
    fields = ["metering_point", "attached_at", "released_at"]
    readonly_fields = ["released_at"]
    autocomplete_fields = ["metering_point"]


@admin.register(Account)
class AccountAdmin(AuditedAdmin):
    list_display = ["__str__", "tenant", "status", "opened_at", "keep_power"]
    list_filter = ["status", "keep_power", "tenant__site"]
    search_fields = ["tenant__name", "tenant__mobile"]
    autocomplete_fields = ["tenant"]
    readonly_fields = ["status", "closed_at"]
    inlines = [AccountMeteringPointInline]
    actions = ["close_selected"]

    @admin.action(description=_("Close selected accounts (releases their metering points)"))
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        closed = 0
        for account in queryset:
            try:
                close_account(account, request.user, reason=str(_("Closed from the admin")))
                closed += 1
            except AccountClosed as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, _("%(n)s account(s) closed.") % {"n": closed})

    #: Changed on the console (a point's Thresholds) or by the API, which also send them
    #: to a meter-side meter; here they would change PEMS's copy only.
    THRESHOLDS = ["alarm1_threshold", "alarm2_threshold", "overdraft_limit", "reconnect_minimum"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return list(self.readonly_fields)
        return [*self.readonly_fields, "opened_at", *self.THRESHOLDS]
