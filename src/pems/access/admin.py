from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from pems.access.models import ApiToken, Staff
from pems.audit.admin import AuditedAdmin
from pems.audit.log import record
from pems.core.admin import ReadOnlyAdmin


@admin.register(Staff)
class StaffAdmin(AuditedAdmin):
    list_display = ["user", "role", "all_sites"]
    list_filter = ["role", "all_sites"]
    filter_horizontal = ["sites"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are listed here (never their secret); `pems token create` issues them."""

    list_display = ["id", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username"]
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        with transaction.atomic():
            for token in queryset:
                if token.revoke():
                    record(
                        request.user, "token.revoke", token, {"revoked_at": str(token.revoked_at)}
                    )
