"""Dashboard and monitor grid, with the grid's live JSON and its Excel export."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from pems.access.roles import Capability
from pems.access.scope import require, visible_sites
from pems.console.access import ConsoleView, capabilities_at
from pems.console.batch import BATCH_ACTIONS
from pems.console.dashboard import build_dashboard, site_figures
from pems.console.display import DisplayState
from pems.console.exports import grid_table, today_table, xlsx
from pems.console.grid import GridFilter, build_grid, filter_choices


def _site_filter(request: HttpRequest, sites: list[Any]) -> int | None:
    """The site picked in the query string, if the person sees it."""
    wanted = request.GET.get("site", "")
    return next((s.pk for s in sites if str(s.pk) == wanted), None)


class DashboardView(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        sites = list(visible_sites(request.user))
        site = _site_filter(request, sites)
        shown = [s for s in sites if site is None or s.pk == site]
        if request.GET.get("export") == "today":
            require(request.user, Capability.EXPORT)
            return xlsx("today.xlsx", today_table(site_figures(request.user, shown)))
        return render(
            request,
            "console/dashboard.html",
            {
                "dashboard": build_dashboard(request.user, shown, site),
                "sites": sites,
                "site": site,
                "states": DisplayState,
            },
        )


class MonitorView(ConsoleView):
    def get(self, request: HttpRequest) -> HttpResponse:
        grid_filter = GridFilter.from_query(request.GET)
        grid = build_grid(request.user, grid_filter)
        caps = capabilities_at(request.user, None)
        return render(
            request,
            "console/monitor.html",
            {
                "grid": grid,
                "filter": grid_filter,
                "choices": filter_choices(request.user, grid_filter.site),
                "states": DisplayState,
                "caps": caps,
                "batch_actions": [a for a in BATCH_ACTIONS.values() if a.capability in caps],
                "query": request.GET.urlencode(),
            },
        )


class TilesJsonView(ConsoleView):
    """What the grid's live refresh fetches every few seconds."""

    def get(self, request: HttpRequest) -> JsonResponse:
        grid = build_grid(request.user, GridFilter.from_query(request.GET))
        return JsonResponse(
            {
                "at": timezone.now().isoformat(),
                "counts": dict(grid.counts),
                "tiles": [tile.as_json() for tile in grid.tiles],
            }
        )


class MonitorExportView(ConsoleView):
    capability = Capability.EXPORT

    def get(self, request: HttpRequest) -> HttpResponse:
        grid = build_grid(request.user, GridFilter.from_query(request.GET))
        return xlsx("monitor.xlsx", grid_table(grid.tiles))
