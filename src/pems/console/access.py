"""The console's view of permissions: a thin layer over :mod:`pems.access.scope`.

Every page asks :func:`pems.access.scope.require` for ``VIEW``; every object
comes from a :func:`~pems.access.scope.scoped` queryset (another site's row is
a 404, its existence not leaked); every action requires its capability at the
object's site before anything changes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.views import View

from pems.access.roles import Capability
from pems.access.scope import can, require, scoped, visible_sites
from pems.inventory.models import MeteringPoint, Site


class ConsoleView(LoginRequiredMixin, View):
    """A console page: signed in, and allowed to see rows (``Capability.VIEW``)."""

    capability = Capability.VIEW

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            require(request.user, self.capability)
        return super().dispatch(request, *args, **kwargs)


def sites_where(user: Any, capability: Capability) -> QuerySet[Site]:
    """The sites where ``user`` holds ``capability``, by name (what a page's site picker offers)."""
    allowed = [s.pk for s in visible_sites(user) if can(user, capability, s)]
    return Site.objects.filter(pk__in=allowed).order_by("name")


def picked_site(request: HttpRequest, sites: list[Site]) -> int | None:
    """The id of the site picked in the query string (``?site=``), if it is one of ``sites``."""
    wanted = request.GET.get("site", "")
    return next((s.pk for s in sites if str(s.pk) == wanted), None)


def capabilities_at(user: Any, site: Site | None) -> frozenset[str]:
    """What ``user`` may do at ``site`` (everywhere they can see, when None), for templates."""
    if site is not None and not visible_sites(user).filter(pk=site.pk).exists():
        return frozenset()
    return frozenset(c.value for c in Capability if can(user, c))


def installed_points(user: Any) -> Any:
    """The user's metering points on installed meters (replaced meters' points move along)."""
    return scoped(MeteringPoint.objects.filter(meter__removed_on__isnull=True), user)


def point_or_404(user: Any, pk: int) -> MeteringPoint:
    """A metering point the user may see, with what the pages print about it."""
    return get_object_or_404(
        scoped(MeteringPoint.objects.all(), user).select_related(
            "meter__gateway__site", "meter__model", "meter__location", "room__parent__parent"
        ),
        pk=pk,
    )


def site_of(point: MeteringPoint) -> Site:
    return point.meter.gateway.site
