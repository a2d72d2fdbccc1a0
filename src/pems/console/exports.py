"""Every console table as Excel: the columns and rows of each, written by the project's exporter.

The writer is :func:`pems.core.export.xlsx_response` (shared with the API):
Decimals stay exact numbers, datetimes are shown in the site's time zone,
headers are translated. Rows here are plain values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

from pems.audit.models import AuditEvent
from pems.billing.models import PrepaidEvent
from pems.console.dashboard import SiteFigures
from pems.console.grid import Tile
from pems.control.models import Command
from pems.core.export import xlsx_response
from pems.inventory.models import MeteringPoint
from pems.ledger.models import JournalEntry
from pems.metering.models import MeterEvent

Table = tuple[Sequence[Any], Iterable[Sequence[Any]]]


def xlsx(filename: str, table: Table, time_zone: str | None = None) -> HttpResponse:
    """The table as an .xlsx download (times in ``time_zone``, else the active one)."""
    columns, rows = table
    return xlsx_response(filename, columns, rows, time_zone=time_zone)


def _room(point: MeteringPoint) -> str:
    return point.room.name if point.room_id is not None else ""


def grid_table(tiles: list[Tile]) -> Table:
    columns = [
        _("Site"),
        _("Room"),
        _("Metering point"),
        _("Meter number"),
        _("Fee control"),
        _("Tenant"),
        _("State"),
        _("Credit"),
        _("Active power (kW)"),
        _("Total energy"),
        _("Read at"),
    ]
    rows = []
    for tile in tiles:
        point, state = tile.point, tile.point_state
        rows.append(
            [
                point.meter.gateway.site.name,
                _room(point),
                point.name or str(point.circuit),
                point.meter_number,
                point.get_fee_control_display(),
                tile.tenant,
                str(tile.state.label),
                tile.credit,
                tile.power,
                state.energy_total if state is not None else None,
                state.read_at if state is not None else None,
            ]
        )
    return columns, rows


def today_table(figures: Iterable[SiteFigures]) -> Table:
    columns = [_("Site"), _("Sales"), _("Amount sold"), _("Currency"), _("Energy used (kWh)")]
    return columns, (
        [f.site.name, f.sales_count, f.sales_amount, f.site.currency, f.energy_today]
        for f in figures
    )


def readings_table(points: Iterable[MeteringPoint]) -> Table:
    """The meter reading sheet (抄表) of the points: their latest good reading."""
    columns = [
        _("Site"),
        _("Room"),
        _("Meter number"),
        _("Circuit"),
        _("Total energy"),
        _("Sharp"),
        _("Peak"),
        _("Flat"),
        _("Valley"),
        _("Remaining credit"),
        _("Purchase count"),
        _("Relay closed"),
        _("Online"),
        _("Read at"),
    ]
    rows = []
    for point in points:
        state = getattr(point, "state", None)
        values: list[Any] = [None] * 10
        if state is not None:
            values = [
                state.energy_total,
                state.energy_sharp,
                state.energy_peak,
                state.energy_flat,
                state.energy_valley,
                state.remaining_credit,
                state.purchase_count,
                state.relay_closed,
                state.online,
                state.read_at,
            ]
        rows.append(
            [
                point.meter.gateway.site.name,
                _room(point),
                point.meter_number,
                point.circuit,
                *values,
            ]
        )
    return columns, rows


def ledger_table(entries: Iterable[JournalEntry]) -> Table:
    columns = [_("Number"), _("At"), _("Kind"), _("Prepaid balance change"), _("By"), _("Reason")]
    return columns, (
        [e.pk, e.created_at, e.get_kind_display(), e.wallet_change, e.actor_label, e.reason]
        for e in entries
    )


def commands_table(commands: Iterable[Command]) -> Table:
    columns = [
        _("Created"),
        _("Kind"),
        _("Status"),
        _("Details"),
        _("Purchase count"),
        _("Requested by"),
        _("Completed"),
        _("Failure reason"),
    ]
    return columns, (
        [
            c.created_at,
            c.get_kind_display(),
            c.get_status_display(),
            json.dumps(c.payload, ensure_ascii=False) if c.payload else "",
            c.purchase_count,
            c.requested_by,
            c.completed_at,
            c.failure_text,
        ]
        for c in commands
    )


def events_table(meter_events: Iterable[MeterEvent], prepaid: Iterable[PrepaidEvent]) -> Table:
    columns = [_("At"), _("Source"), _("Kind"), _("Detail")]
    rows = [[e.at, _("meter"), e.get_kind_display(), e.detail] for e in meter_events]
    rows += [
        [e.at, _("prepaid"), e.get_kind_display(), f"{e.reason} ({e.balance})"] for e in prepaid
    ]
    rows.sort(key=lambda row: row[0], reverse=True)
    return columns, rows


def audit_table(events: Iterable[AuditEvent]) -> Table:
    columns = [
        _("At"),
        _("Actor"),
        _("Action"),
        _("Object type"),
        _("Object id"),
        _("Object"),
        _("Changes"),
        _("Reason"),
    ]
    return columns, (
        [
            e.at,
            e.actor_label,
            e.action,
            e.object_type,
            e.object_id,
            e.object_repr,
            json.dumps(e.changes, ensure_ascii=False, default=str),
            e.reason,
        ]
        for e in events
    )
