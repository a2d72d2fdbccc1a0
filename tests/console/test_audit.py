"""The audit-log page: filters, scope to the person's sites, and its export."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from pems.audit.log import record
from pems.audit.models import AuditEvent
from pems.control import actions as control
from pems.control.models import CommandKind
from tests import factories


@pytest.fixture
def events(plaza):
    """A trip on each site, by two different people."""
    north = factories.staff_user("operator", plaza.site, username="li")
    south = factories.staff_user("operator", plaza.other_site, username="wang")
    control.enqueue(plaza.opened, CommandKind.TRIP, actor=north, reason="north works")
    control.enqueue(plaza.elsewhere, CommandKind.TRIP, actor=south, reason="south works")
    record(north, "staff.note", north, {}, "a row without a site")


def shown(client, **params) -> list[AuditEvent]:
    response = client.get(reverse("console:audit"), params)
    assert response.status_code == 200
    return list(response.context["page"])


def test_a_scoped_manager_sees_only_their_sites_events(login, plaza, events):
    reasons = {e.reason for e in shown(login("manager"))}
    assert "north works" in reasons
    assert "south works" not in reasons
    assert "a row without a site" in reasons  # objects without a site are everyone's


def test_an_all_sites_manager_sees_everything(login, plaza, events):
    reasons = {e.reason for e in shown(login("manager", all_sites=True))}
    assert {"north works", "south works"} <= reasons


@pytest.mark.parametrize(
    ("params", "reasons"),
    [
        ({"actor": "LI"}, {"north works", "a row without a site"}),
        ({"action": "control.enqueue"}, {"north works", "south works"}),
        ({"object_type": "control.command"}, {"north works", "south works"}),
        ({"object": "Trip"}, {"north works", "south works"}),
    ],
)
def test_filters(login, plaza, events, params, reasons):
    found = {e.reason for e in shown(login("admin", all_sites=True), **params)}
    assert found == reasons


def test_date_filters(login, plaza, events):
    client = login("admin")
    today = timezone.localdate()
    assert shown(client, since=today.isoformat(), until=today.isoformat())
    tomorrow = today + dt.timedelta(days=1)
    assert shown(client, since=tomorrow.isoformat()) == []
    bad = client.get(reverse("console:audit"), {"since": "2030-01-02", "until": "2030-01-01"})
    assert "until" in bad.context["form"].errors
