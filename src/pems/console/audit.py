"""The audit log as a person may read it: filtered, and scoped to their sites.

An event about an object that belongs to a site (an account, a command, a
journal entry …) is shown only to people who see that site; events about
objects without a site (staff, tokens) are shown to every auditor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.apps import apps
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from pems.access.scope import SITE_PATHS, scoped, visible_sites
from pems.audit.models import AuditEvent
from pems.inventory.models import Site


def visible_events(user: Any) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if visible_sites(user).count() == Site.objects.count():
        return events  # every site: every object with a site is visible
    allowed = ~Q(object_type__in=list(SITE_PATHS))
    # Only the kinds of object the log mentions: no subquery over, say, interval readings.
    logged = set(events.order_by().values_list("object_type", flat=True).distinct())
    for label in sorted(logged & SITE_PATHS.keys()):
        model = apps.get_model(label)
        ids = scoped(model.objects.all(), user).values(
            key=Cast("pk", output_field=CharField(max_length=64))
        )
        allowed |= Q(object_type=label, object_id__in=ids)
    return events.filter(allowed)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Who"), required=False, max_length=150)
    action = forms.ChoiceField(label=_("Action"), required=False)
    object_type = forms.ChoiceField(label=_("Object type"), required=False)
    object = forms.CharField(label=_("Object"), required=False, max_length=200)
    since = forms.DateField(
        label=pgettext_lazy("date filter", "From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        label=pgettext_lazy("date filter", "To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, events: QuerySet[AuditEvent], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        distinct = events.order_by()
        any_ = [("", _("any"))]
        actions = distinct.values_list("action", flat=True).distinct()
        types = distinct.values_list("object_type", flat=True).distinct()
        self.fields["action"].choices = any_ + [(a, a) for a in sorted(actions)]
        self.fields["object_type"].choices = any_ + [(t, t) for t in sorted(types)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
        return data


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(0)))


def filtered(events: QuerySet[AuditEvent], data: dict[str, Any]) -> QuerySet[AuditEvent]:
    if data.get("actor"):
        events = events.filter(actor_label__icontains=data["actor"])
    if data.get("action"):
        events = events.filter(action=data["action"])
    if data.get("object_type"):
        events = events.filter(object_type=data["object_type"])
    if text := (data.get("object") or "").strip():
        events = events.filter(Q(object_id=text) | Q(object_repr__icontains=text))
    if data.get("since"):
        events = events.filter(at__gte=_day_start(data["since"]))
    if data.get("until"):
        events = events.filter(at__lt=_day_start(data["until"] + timedelta(days=1)))
    return events.order_by("-at", "-pk")


@dataclass(frozen=True)
class AuditQuery:
    form: AuditFilterForm
    events: QuerySet[AuditEvent]


def audit_query(user: Any, params: Any) -> AuditQuery:
    visible = visible_events(user)
    form = AuditFilterForm(params or None, events=visible)
    data = form.cleaned_data if form.is_valid() else {}
    return AuditQuery(form, filtered(visible, data))
