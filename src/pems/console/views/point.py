"""A room's page, its live JSON, its tables as Excel, and a sale's printable receipt."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from pems.access.roles import Capability
from pems.access.scope import scoped
from pems.accounts.actions import REVERSIBLE
from pems.billing.relays import open_account_of
from pems.console import detail, exports
from pems.console.access import ConsoleView, capabilities_at, point_or_404, site_of
from pems.console.forms.control import RELAY_FORMS
from pems.console.operations import CANCELLABLE
from pems.console.receipts import receipt_of
from pems.console.templatetags.console import relay
from pems.ledger.models import JournalEntry

TABLE_ROWS = 50


def _value(value: Any) -> str | None:
    return None if value is None else str(value)


def live_values(info: detail.PointDetail) -> dict[str, Any]:
    """The values the room page refreshes; decimals as strings, never floats."""
    state = info.state
    fields = [
        "active_power",
        "voltage_a",
        "voltage_b",
        "voltage_c",
        "current_a",
        "current_b",
        "current_c",
        "energy_total",
        "remaining_credit",
        "purchase_count",
        "online",
    ]
    values = {name: _value(getattr(state, name, None)) for name in fields}
    read_at = state.read_at if state is not None else None
    values.update(
        relay_closed=relay(state.relay_closed if state is not None else None),
        read_at=date_format(timezone.localtime(read_at), "Y-m-d H:i:s") if read_at else _("never"),
        state=info.display.value,
        state_label=str(info.display.label),
        credit=_value(info.credit),
        today_energy=_value(info.today_energy),
        today_money=_value(info.today_money),
    )
    return values


class PointView(ConsoleView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        point = point_or_404(request.user, pk)
        info = detail.point_detail(point)
        everything = request.GET.get("ledger") == "all"
        return render(
            request,
            "console/point.html",
            {
                "point": point,
                "site": site_of(point),
                "info": info,
                "caps": capabilities_at(request.user, site_of(point)),
                "relay_forms": RELAY_FORMS,
                "reversible": sorted(REVERSIBLE),
                "cancellable": CANCELLABLE,
                "entries": detail.ledger_entries(info.account, everything)[:TABLE_ROWS],
                "ledger_all": everything,
                "commands": detail.commands_of(point)[:TABLE_ROWS],
                "meter_events": detail.meter_events_of(point)[:TABLE_ROWS],
                "prepaid_events": detail.prepaid_events_of(info.account)[:TABLE_ROWS],
            },
        )


class PointLiveView(ConsoleView):
    """Live values and command statuses for the room page's refresh."""

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        point = point_or_404(request.user, pk)
        info = detail.point_detail(point)
        commands = detail.commands_of(point)[:TABLE_ROWS]
        return JsonResponse(
            {
                "values": live_values(info),
                "commands": [
                    {
                        "id": c.pk,
                        "status": c.status,
                        "status_label": str(c.get_status_display()),
                        "failure": c.failure_text,
                    }
                    for c in commands
                ],
            }
        )


class PointExportView(ConsoleView):
    """One of the room page's tables as Excel."""

    capability = Capability.EXPORT

    def get(self, request: HttpRequest, pk: int, table: str) -> HttpResponse:
        point = point_or_404(request.user, pk)
        account = open_account_of(point)
        if table == "ledger":
            rows = exports.ledger_table(detail.ledger_entries(account))
        elif table == "commands":
            rows = exports.commands_table(detail.commands_of(point))
        elif table == "events":
            rows = exports.events_table(
                detail.meter_events_of(point), detail.prepaid_events_of(account)
            )
        else:
            raise Http404("no such table")
        filename = f"{table}-{point.meter_number}.xlsx"
        return exports.xlsx(filename, rows, time_zone=site_of(point).time_zone)


class ReceiptView(ConsoleView):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        sale = get_object_or_404(
            scoped(JournalEntry.objects.all(), request.user).select_related(
                "site", "account__tenant"
            ),
            pk=pk,
            kind=JournalEntry.Kind.RECHARGE,
        )
        point = sale.account.links.order_by("-attached_at").first() if sale.account else None
        return render(
            request,
            "console/receipt.html",
            {
                "receipt": receipt_of(sale),
                "sale": sale,
                "point_id": point.metering_point_id if point is not None else None,
            },
        )
