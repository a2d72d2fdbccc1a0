"""Batch actions on the grid's selection: confirm with the plan and a reason, then queue."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pems.access.roles import Capability
from pems.access.scope import require
from pems.console import batch
from pems.console.access import ConsoleView, installed_points
from pems.console.exports import readings_table, xlsx
from pems.console.forms.base import new_key
from pems.console.operations import REFUSALS
from pems.console.views.common import done_before, refusal_text, remember_done
from pems.inventory.models import MeteringPoint

EXPORT = "export-readings"


class BatchForm(forms.Form):
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


def _selection(request: HttpRequest) -> list[MeteringPoint]:
    """The selected points; a point the person cannot see makes the whole request a 404."""
    try:
        wanted = {int(pk) for pk in request.POST.getlist("points")}
    except ValueError:
        raise Http404("bad selection") from None
    points = list(
        installed_points(request.user)
        .filter(pk__in=wanted)
        .select_related("meter__gateway__site", "room", "state")
        .order_by("room__name", "meter__number", "circuit")
    )
    if len(points) != len(wanted):
        raise Http404("a selected point is not visible")
    return points


class BatchView(ConsoleView):
    def post(self, request: HttpRequest) -> HttpResponse:
        name = request.POST.get("action", "")
        points = _selection(request)
        back = reverse("console:monitor") + (
            "?" + request.POST["query"] if request.POST.get("query") else ""
        )
        sites = {p.meter.gateway.site_id for p in points}
        if name == EXPORT:
            for site in sites:
                require(request.user, Capability.EXPORT, site)
            return xlsx("readings.xlsx", readings_table(points))
        action = batch.BATCH_ACTIONS.get(name)
        if action is None:
            raise Http404("no such batch action")
        for site in sites:
            require(request.user, action.capability, site)
        if not points:
            messages.warning(request, _("Select at least one room first."))
            return redirect(back)
        if url := done_before(request, request.POST.get("key", "")):
            return redirect(url)
        confirming = "confirm" in request.POST
        form = BatchForm(request.POST if confirming else None, initial={"key": new_key()})
        context: dict[str, Any] = {
            "action": action,
            "plan": batch.plan(name, points),
            "form": form,
            "query": request.POST.get("query", ""),
        }
        if not confirming or not form.is_valid():
            return render(request, "console/batch_confirm.html", context)
        try:
            count = batch.run(
                name, points, request.user, form.cleaned_data["reason"], form.cleaned_data["key"]
            )
        except REFUSALS as exc:
            for text in refusal_text(exc):
                form.add_error(None, text)
            return render(request, "console/batch_confirm.html", context)
        remember_done(request, form.cleaned_data["key"], back)
        messages.success(
            request,
            _("%(action)s: %(count)s command(s) queued.")
            % {"action": action.label, "count": count},
        )
        return redirect(back)
