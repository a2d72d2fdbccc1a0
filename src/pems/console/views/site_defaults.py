"""A site's default thresholds (alarm 1, alarm 2, overdraft limit, reconnect minimum).

Managers only (``Capability.SITE_DEFAULTS``): the overdraft limit extends credit
to every tenant without one of their own. The capability is required before
the page is shown, and again at the site before anything is written; a site
outside the person's sites is a 404. Saving is
:func:`pems.console.operations.set_site_thresholds` (audited, meter-side meters
told); a refused form writes nothing and comes back with its problems next to
its fields, and a resubmitted form (its ``key`` done already) does nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import ngettext

from pems.access.roles import Capability
from pems.access.scope import require
from pems.accounts.actions import SITE_DEFAULTS
from pems.accounts.models import Account
from pems.console import operations
from pems.console.access import ConsoleView, picked_site, sites_where
from pems.console.forms.site_defaults import SiteDefaultsForm
from pems.console.views.common import done_before, refusal_text, remember_done
from pems.inventory.models import Site


@dataclass(frozen=True)
class DefaultInUse:
    """One default as the page prints it: its value and how many open accounts use it."""

    name: str
    label: Any
    value: Decimal
    accounts: int


def defaults_in_use(site: Site, form: SiteDefaultsForm) -> tuple[list[DefaultInUse], int]:
    """Each default in force with the open accounts relying on it, and the open accounts.

    One query: an account with a value of its own is not counted for that default.
    """
    relying = {
        name: Count("pk", filter=Q(**{f"{own}__isnull": True}))
        for name, own in SITE_DEFAULTS.items()
    }
    counts = Account.objects.filter(tenant__site=site, status=Account.Status.OPEN).aggregate(
        open_accounts=Count("pk"), **relying
    )
    rows = [
        DefaultInUse(name, form.fields[name].label, getattr(site, name), counts[name])
        for name in SITE_DEFAULTS
    ]
    return rows, counts["open_accounts"]


def _picked(request: HttpRequest, sites: list[Site]) -> Site | None:
    """The site asked for (404 if it is not one of ``sites``), or the only one."""
    if not request.GET.get("site"):
        return sites[0] if len(sites) == 1 else None
    pk = picked_site(request, sites)
    if pk is None:
        raise Http404("not one of your sites")
    return next(s for s in sites if s.pk == pk)


def _page_url(site: Site) -> str:
    return f"{reverse('console:site-defaults')}?site={site.pk}"


class SiteDefaultsView(ConsoleView):
    """The picked site's defaults, how many accounts use each, and the form that changes them."""

    capability = Capability.SITE_DEFAULTS

    def page(
        self,
        request: HttpRequest,
        sites: list[Site],
        site: Site | None,
        form: SiteDefaultsForm | None,
        status: int = 200,
    ) -> HttpResponse:
        context: dict[str, Any] = {
            "sites": sites,
            "site": site.pk if site is not None else None,
            "picked": site,
            "form": form,
        }
        if site is not None and form is not None:
            context["in_use"], context["open_accounts"] = defaults_in_use(site, form)
        return render(request, "console/site_defaults.html", context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        sites = list(sites_where(request.user, Capability.SITE_DEFAULTS))
        site = _picked(request, sites)
        form = SiteDefaultsForm(site=site) if site is not None else None
        return self.page(request, sites, site, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        sites = list(sites_where(request.user, Capability.SITE_DEFAULTS))
        site = _picked(request, sites)
        if site is None:
            raise Http404("no site picked")
        require(request.user, Capability.SITE_DEFAULTS, site)
        if url := done_before(request, request.POST.get("key", "")):
            return redirect(url)  # this very form was saved already: show its result again
        form = SiteDefaultsForm(request.POST, site=site)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    told = operations.set_site_thresholds(
                        site, form.values(), request.user, data["reason"], data["key"]
                    )
            except ValidationError as refused:
                form.refuse(refused)
            except operations.REFUSALS as refused:
                form.add_error(None, refusal_text(refused))
            else:
                url = _page_url(site)
                remember_done(request, data["key"], url)
                shown = {"site": site.name, "count": len(told)}
                messages.success(
                    request,
                    ngettext(
                        "Default thresholds saved at %(site)s; %(count)s meter-side meter "
                        "was sent the new thresholds.",
                        "Default thresholds saved at %(site)s; %(count)s meter-side meters "
                        "were sent the new thresholds.",
                        len(told),
                    )
                    % shown,
                )
                return redirect(url)
        return self.page(request, sites, site, form, status=400)
