"""Tariff pages: the site's tariffs, a new tariff, and one tariff with its revise form.

Managers (``Capability.TARIFF``) only: the capability is required before any
page is shown, and again at the tariff's site before anything is written. A
tariff comes from a scoped queryset (another site's is a 404). Creating and
revising are :mod:`pems.billing.tariffs`' actions, which audit themselves; a
refused document writes nothing and comes back with every problem listed.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from pems.access.roles import Capability
from pems.access.scope import require, scoped
from pems.billing.models import Tariff
from pems.billing.tariffs import create_tariff, revise_tariff
from pems.console.access import ConsoleView, picked_site, sites_where
from pems.console.forms.tariffs import (
    DOCUMENT_REFUSALS,
    NewTariffForm,
    ReviseTariffForm,
)
from pems.console.tariffs import history, tariff_rows, versions_of


class TariffListView(ConsoleView):
    capability = Capability.TARIFF

    def get(self, request: HttpRequest) -> HttpResponse:
        sites = list(sites_where(request.user, Capability.TARIFF))
        site = picked_site(request, sites)
        tariffs = scoped(Tariff.objects.all(), request.user).filter(
            site__in=[s.pk for s in sites if site is None or s.pk == site]
        )
        context = {"rows": tariff_rows(tariffs), "sites": sites, "site": site}
        return render(request, "console/tariffs.html", context)


class TariffCreateView(ConsoleView):
    capability = Capability.TARIFF

    def get(self, request: HttpRequest) -> HttpResponse:
        form = NewTariffForm(user=request.user, initial={"site": request.GET.get("site")})
        return render(request, "console/tariff_new.html", {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = NewTariffForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            require(request.user, Capability.TARIFF, data["site"])
            try:
                tariff = create_tariff(
                    data["site"],
                    data["name"],
                    data["document"],
                    request.user,
                    data["reason"],
                    data["utility"],
                )
            except DOCUMENT_REFUSALS as error:
                form.refuse(error)
            except IntegrityError:  # the same name, saved a moment ago by someone else
                form.add_error("name", _("The site already has a tariff with this name."))
            else:
                messages.success(request, _("Tariff %(name)s created.") % {"name": tariff.name})
                return redirect("console:tariff-detail", pk=tariff.pk)
        return render(request, "console/tariff_new.html", {"form": form}, status=400)


class TariffDetailView(ConsoleView):
    capability = Capability.TARIFF

    def tariff(self, request: HttpRequest, pk: int) -> Tariff:
        tariff = get_object_or_404(
            scoped(Tariff.objects.select_related("site"), request.user), pk=pk
        )
        require(request.user, Capability.TARIFF, tariff.site)
        return tariff

    def page(
        self, request: HttpRequest, tariff: Tariff, form: ReviseTariffForm, status: int = 200
    ) -> HttpResponse:
        versions, problem = versions_of(tariff)
        context = {
            "tariff": tariff,
            "versions": versions,
            "problem": problem,
            "revisions": history(tariff),
            "form": form,
        }
        return render(request, "console/tariff.html", context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        tariff = self.tariff(request, pk)
        return self.page(request, tariff, ReviseTariffForm(tariff=tariff))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        tariff = self.tariff(request, pk)
        form = ReviseTariffForm(request.POST, request.FILES, tariff=tariff)
        if form.is_valid():
            data = form.cleaned_data
            try:
                revise_tariff(tariff, data["document"], request.user, data["reason"])
            except DOCUMENT_REFUSALS as error:
                form.refuse(error)
            else:
                messages.success(request, _("Tariff %(name)s revised.") % {"name": tariff.name})
                return redirect("console:tariff-detail", pk=tariff.pk)
        return self.page(request, tariff, form, status=400)
