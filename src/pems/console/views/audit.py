"""The audit-log page and its Excel export."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pems.access.roles import Capability
from pems.access.scope import require
from pems.console.access import ConsoleView
from pems.console.audit import audit_query
from pems.console.exports import audit_table, xlsx

PAGE_SIZE = 50
#: An export is a file a person opens in Excel: past this, narrow the filter.
EXPORT_LIMIT = 100_000


class AuditView(ConsoleView):
    capability = Capability.AUDIT

    def get(self, request: HttpRequest) -> HttpResponse:
        query = audit_query(request.user, request.GET)
        page = Paginator(query.events, PAGE_SIZE).get_page(request.GET.get("page"))
        params = request.GET.copy()
        params.pop("page", None)
        return render(
            request,
            "console/audit.html",
            {"form": query.form, "page": page, "query": params.urlencode()},
        )


class AuditExportView(ConsoleView):
    capability = Capability.AUDIT

    def get(self, request: HttpRequest) -> HttpResponse:
        require(request.user, Capability.EXPORT)
        query = audit_query(request.user, request.GET)
        return xlsx("audit-log.xlsx", audit_table(query.events[:EXPORT_LIMIT].iterator()))
