"""Admin for the audit log (read-only) and the mixin that audits every admin edit."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest

from pems.audit.log import diff, record, snapshot
from pems.audit.models import AuditEvent
from pems.core.admin import ReadOnlyAdmin


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Records who created, changed or deleted each object through the admin."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = snapshot(type(obj).objects.get(pk=obj.pk)) if change else {}
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            changes = diff(before, snapshot(obj))
            if changes or not change:
                record(request.user, "change" if change else "create", obj, changes)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows (e.g. an account's metering points) are audited like the parent."""
        with transaction.atomic():
            super().save_formset(request, form, formset, change)
            for obj in formset.new_objects:
                record(request.user, "create", obj, diff({}, snapshot(obj)))
            for inline_form in formset.initial_forms:
                obj = inline_form.instance
                if obj in formset.deleted_objects:
                    record(request.user, "delete", obj, diff(snapshot(obj), {}))
                elif inline_form.has_changed():
                    before = {
                        name: inline_form.initial.get(name) for name in inline_form.changed_data
                    }
                    after = {name: inline_form.cleaned_data.get(name) for name in before}
                    record(request.user, "change", obj, diff(_plain(before), _plain(after)))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            record(request.user, "delete", obj, diff(snapshot(obj), {}))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                record(request.user, "delete", obj, diff(snapshot(obj), {}))
            super().delete_queryset(request, queryset)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_repr", "reason"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_repr", "object_id", "reason"]
    date_hierarchy = "at"


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Form values as the audit log stores them: model instances by primary key."""
    return {key: getattr(value, "pk", value) for key, value in values.items()}
