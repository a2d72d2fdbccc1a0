"""Keep-power periods (保电时段): the sites' periods, a new one, and the removal of one.

Managers and operators (``Capability.CONTROL``) only: the capability is
required before any page is shown, and again at the period's site before
anything is written. A period comes from the person's own sites (another
site's is a 404). Adding and removing are :mod:`pems.billing.keep_power`'s
actions, which audit themselves; a refused period writes nothing and comes
back with its problems next to its fields. A removal is confirmed on a page of
its own, as the console's control actions are, which asks for the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from pems.access.roles import Capability
from pems.access.scope import require, scoped
from pems.billing.keep_power import add_period, remove_period
from pems.billing.models import KeepPowerPeriod
from pems.console.access import ConsoleView, picked_site, sites_where
from pems.console.forms.keep_power import KeepPowerForm, RemovePeriodForm


@dataclass(frozen=True)
class PeriodRow:
    """One period as the page prints it."""

    period: KeepPowerPeriod
    hours: str  # "22:00–06:00", or "whole day"
    whole_day: bool
    crosses_midnight: bool
    days: tuple[str, ...]


def period_row(period: KeepPowerPeriod) -> PeriodRow:
    whole_day = period.start == period.end
    ticked = (
        (period.on_workdays, _("workdays")),
        (period.on_weekends, _("weekends")),
        (period.on_holidays, _("public holidays")),
    )
    days = tuple(label for on, label in ticked if on)
    return PeriodRow(
        period=period,
        hours=_("whole day") if whole_day else str(period),
        whole_day=whole_day,
        crosses_midnight=period.end < period.start,
        days=(_("every day"),) if len(days) == len(ticked) else days,
    )


def periods_of(user: Any) -> QuerySet[KeepPowerPeriod]:
    """The periods of the sites ``user`` may see; any other site's are not found."""
    return scoped(KeepPowerPeriod.objects.select_related("site"), user)


def _list_url(request: HttpRequest) -> str:
    """The list, showing the site picked when the request came (all the person's otherwise)."""
    site = picked_site(request, list(sites_where(request.user, Capability.CONTROL)))
    url = reverse("console:keep-power")
    return f"{url}?site={site}" if site is not None else url


class KeepPowerView(ConsoleView):
    """The list of periods, with the form that adds one."""

    capability = Capability.CONTROL

    def page(self, request: HttpRequest, form: KeepPowerForm, status: int = 200) -> HttpResponse:
        sites = list(sites_where(request.user, Capability.CONTROL))
        site = picked_site(request, sites)
        periods = periods_of(request.user).filter(
            site__in=[s.pk for s in sites if site is None or s.pk == site]
        )
        context = {
            "rows": [period_row(p) for p in periods.order_by("site__name", "start", "pk")],
            "sites": sites,
            "site": site,
            "form": form,
        }
        return render(request, "console/keep_power.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {"site": request.GET["site"]} if request.GET.get("site") else {}
        return self.page(request, KeepPowerForm(user=request.user, initial=initial))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = KeepPowerForm(request.POST, user=request.user)
        if form.is_valid():
            site = form.cleaned_data["site"]
            require(request.user, Capability.CONTROL, site)
            try:
                period = add_period(site, form.spec(), request.user)
            except ValidationError as error:
                form.refuse(error)
            else:
                shown = {"period": period_row(period).hours, "site": site.name}
                messages.success(
                    request, _("Keep-power period %(period)s added at %(site)s.") % shown
                )
                return redirect(_list_url(request))
        return self.page(request, form, status=400)


class KeepPowerRemoveView(ConsoleView):
    """Remove one period: the first POST shows what goes, the confirmed one removes it."""

    capability = Capability.CONTROL
    http_method_names = ["post"]

    def confirm(
        self, request: HttpRequest, period: KeepPowerPeriod, form: RemovePeriodForm, status: int
    ) -> HttpResponse:
        context = {"row": period_row(period), "form": form, "back": _list_url(request)}
        return render(request, "console/keep_power_remove.html", context, status=status)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        period = get_object_or_404(periods_of(request.user), pk=pk)
        require(request.user, Capability.CONTROL, period.site)
        if "confirm" not in request.POST:
            return self.confirm(request, period, RemovePeriodForm(), status=200)
        form = RemovePeriodForm(request.POST)
        if not form.is_valid():
            return self.confirm(request, period, form, status=400)
        try:
            remove_period(period, request.user, form.cleaned_data["reason"])
        except KeepPowerPeriod.DoesNotExist:  # removed by someone else since the page was read
            raise Http404 from None
        shown = {"period": period_row(period).hours, "site": period.site.name}
        messages.success(request, _("Keep-power period %(period)s removed at %(site)s.") % shown)
        return redirect(_list_url(request))
