"""Keep-power periods (保电时段) through the API: added and removed by people who may switch the
site's meters, audited, refused cleanly, and in force at the policy's next decision."""

from __future__ import annotations

import datetime as dt

import pytest

from pems.audit.models import AuditEvent
from pems.billing.models import KeepPowerPeriod
from pems.billing.policy import sites_keeping_power
from tests import factories
from tests.api.conftest import errors_of, world

NIGHTS = {
    "start": "22:00",
    "end": "06:00",
    "on_weekends": False,
    "on_holidays": False,
    "reason": "no trips at night",
}


def url(site, period=None) -> str:
    return f"/api/sites/{site.pk}/keep-power-periods" + (f"/{period}" if period else "")


def test_an_operator_adds_a_night_period_that_the_policy_then_keeps(north, as_user):
    person = factories.staff_user("operator", north.site)
    operator = as_user(person)
    added = operator.post(url(north.site), NIGHTS)

    assert added.status_code == 201, added.json()
    body = added.json()
    assert (body["start"], body["end"], body["on_workdays"], body["on_weekends"]) == (
        "22:00:00",
        "06:00:00",
        True,
        False,
    )
    period = KeepPowerPeriod.objects.get(pk=body["id"])
    assert period.site == north.site
    event = AuditEvent.objects.get(action="create", object_id=str(period.pk))
    assert (event.actor, event.reason) == (person, "no trips at night")
    # Monday 2026-03-02 23:30 in Shanghai: a workday night.
    monday_night = dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC)
    assert sites_keeping_power([north.site.pk], monday_night) == {north.site.pk}
    saturday_night = dt.datetime(2026, 3, 7, 15, 30, tzinfo=dt.UTC)
    assert sites_keeping_power([north.site.pk], saturday_night) == set()
    listed = operator.get(f"/api/sites/{north.site.pk}").json()["keep_power_periods"]
    assert [p["id"] for p in listed] == [period.pk]


def test_removing_a_period_is_audited_and_gone(north, as_user):
    manager = as_user(factories.staff_user("manager", north.site))
    period = manager.post(url(north.site), NIGHTS).json()["id"]

    removed = manager.delete(url(north.site, period) + "?reason=season over")

    assert removed.status_code == 204
    assert not KeepPowerPeriod.objects.exists()
    event = AuditEvent.objects.get(action="delete", object_id=str(period))
    assert event.reason == "season over"
    assert event.changes["start"] == ["22:00:00", None]
    assert manager.delete(url(north.site, period)).status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"on_workdays": False, "on_weekends": False, "on_holidays": False},
            "on_workdays",
            "Tick at least one kind of day.",
        ),
        ({"start": "22:00:30"}, "start", "whole minutes (HH:MM)"),
        ({"end": "06:00+08:00"}, "end", "without an offset"),
        ({"start": "25:00"}, "start", "time"),
    ],
)
def test_a_bad_period_is_refused_by_field_and_writes_nothing(
    north, as_user, change, field, message
):
    manager = as_user(factories.staff_user("manager", north.site))
    before = world()

    refused = manager.post(url(north.site), {**NIGHTS, **change})

    assert refused.status_code == 422, refused.json()
    [(named, text)] = errors_of(refused)
    assert named == field
    assert message in text
    assert not KeepPowerPeriod.objects.exists()
    assert world() == before


def test_a_cashier_may_not_and_another_sites_operator_cannot_see_the_site(north, south, as_user):
    cashier = as_user(factories.staff_user("cashier", north.site))
    assert cashier.post(url(north.site), NIGHTS).status_code == 403
    southern = as_user(factories.staff_user("operator", south.site))
    assert southern.post(url(north.site), NIGHTS).status_code == 404
    period = as_user(factories.staff_user("manager", north.site)).post(url(north.site), NIGHTS)
    assert southern.delete(url(north.site, period.json()["id"])).status_code == 404
    assert southern.delete(url(south.site, period.json()["id"])).status_code == 404  # not south's
    assert cashier.delete(url(north.site, period.json()["id"])).status_code == 403
    assert KeepPowerPeriod.objects.count() == 1
