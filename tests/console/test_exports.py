"""Every console table exports to Excel, within the person's scope."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from pems.control import actions as control
from pems.control.models import CommandKind
from tests.console.conftest import sheet_rows


def test_the_monitor_exports_what_the_grid_shows(login, plaza):
    rows = sheet_rows(login("readonly").get(reverse("console:monitor-export"), {"q": "A10"}))
    header, *body = rows
    assert header[:3] == ("Site", "Room", "Metering point")
    assert sorted(r[1] for r in body) == ["A101", "A102", "A103", "A104", "A105"]
    opened = next(r for r in body if r[1] == "A101")
    assert Decimal(str(opened[7])) == Decimal("196.00")  # credit, a number cell


def test_export_readings_of_a_selection(login, plaza):
    response = login("readonly").post(
        reverse("console:batch"),
        {"action": "export-readings", "points": [plaza.opened.pk, plaza.meter_side.pk]},
    )
    _header, *body = sheet_rows(response)
    assert len(body) == 2
    assert {r[2] for r in body} == {"240000000001", "240000000005"}
    assert all(Decimal(str(r[4])) == Decimal("1000.000") for r in body)


@pytest.mark.parametrize(("table", "rows"), [("ledger", 1), ("commands", 1), ("events", 0)])
def test_the_room_tables_export(login, plaza, table, rows):
    control.enqueue(plaza.opened, CommandKind.TRIP, actor="test")
    response = login("readonly").get(reverse("console:point-export", args=[plaza.opened.pk, table]))
    assert len(sheet_rows(response)) == 1 + rows


def test_a_room_table_of_another_site_is_a_404(login, plaza):
    response = login("readonly").get(
        reverse("console:point-export", args=[plaza.elsewhere.pk, "ledger"])
    )
    assert response.status_code == 404


def test_the_audit_export_follows_the_filter_and_the_scope(login, plaza):
    from tests import factories

    south = factories.staff_user("operator", plaza.other_site, username="wang")
    control.enqueue(plaza.elsewhere, CommandKind.TRIP, actor=south, reason="south works")
    control.enqueue(plaza.opened, CommandKind.TRIP, actor=south, reason="north works")
    response = login("manager").get(reverse("console:audit-export"), {"actor": "wang"})
    _header, *body = sheet_rows(response)
    assert [r[7] for r in body] == ["north works"]  # the south trip is another site's


def test_the_dashboards_today_table_exports(login, plaza):
    rows = sheet_rows(login("cashier").get(reverse("console:dashboard"), {"export": "today"}))
    assert rows[1][:3] == ("North Plaza", 1, 200)
