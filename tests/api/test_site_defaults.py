"""A site's default thresholds through the API: managers only, audited, meter-side meters told,
refused by field with nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pems.accounts.actions import open_account
from pems.audit.models import AuditEvent
from pems.control.models import Command, CommandKind
from pems.inventory.models import Site
from tests import factories
from tests.api.conftest import errors_of, tenancy, world

D = Decimal
BODY = {
    "alarm1_threshold": "80.00",
    "alarm2_threshold": "30.00",
    "overdraft_limit": "15.00",
    "reconnect_minimum": "5.00",
    "reason": "tenants asked for an earlier warning",
}
FIELDS = ("default_alarm1_threshold", "default_alarm2_threshold")
FIELDS += ("default_overdraft_limit", "default_reconnect_minimum")
AS_SHIPPED = (D("50.00"), D("20.00"), D("0.00"), D("0.00"))


def url(site) -> str:
    return f"/api/sites/{site.pk}/default-thresholds"


def stored(site) -> tuple[Decimal, ...]:
    site = Site.objects.get(pk=site.pk)
    return tuple(getattr(site, name) for name in FIELDS)


def alarms() -> dict[int, dict]:
    """The SET_ALARMS commands queued, by metering point: their payloads."""
    return {c.point_id: c.payload for c in Command.objects.filter(kind=CommandKind.SET_ALARMS)}


@pytest.fixture
def east(db):
    """A meter-side site: one tenant on the site's defaults, one with all of its own."""
    found = tenancy("East", fee_control="meter-side")
    point = factories.MeteringPointFactory(
        meter__gateway=found.point.meter.gateway, fee_control="meter-side"
    )
    tenant = factories.TenantFactory(site=found.site, name="Own Values")
    own = {"alarm1_threshold": D("60"), "alarm2_threshold": D("10"), "overdraft_limit": D("0")}
    open_account(tenant, [point], actor="setup", **own)
    return found


def test_a_manager_sets_the_defaults_and_the_meters_relying_on_them_are_told(east, as_user):
    person = factories.staff_user("manager", east.site)
    manager = as_user(person)
    response = manager.put(url(east.site), BODY)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["meters_told"] == 1
    site = body["site"]
    assert site["id"] == east.site.pk
    assert (
        site["default_alarm1_threshold"],
        site["default_alarm2_threshold"],
        site["default_overdraft_limit"],
        site["default_reconnect_minimum"],
    ) == ("80.00", "30.00", "15.00", "5.00")
    assert site["keep_power_periods"] == []
    assert stored(east.site) == (D("80.00"), D("30.00"), D("15.00"), D("5.00"))
    assert alarms() == {east.point.pk: {"alarm1": "80.00", "alarm2": "30.00", "overdraft": "15.00"}}
    event = AuditEvent.objects.get(action="site.thresholds")
    assert (event.object_id, event.actor, event.reason) == (
        str(east.site.pk),
        person,
        "tenants asked for an earlier warning",
    )
    assert event.changes["default_overdraft_limit"] == ["0.00", "15.00"]
    read = manager.get(f"/api/sites/{east.site.pk}").json()
    assert read["default_reconnect_minimum"] == "5.00"

    # The same PUT again: the values are in force already, no meter is told twice.
    before = Command.objects.count()
    again = manager.put(url(east.site), BODY)
    assert again.status_code == 200
    assert again.json()["meters_told"] == 0
    assert Command.objects.count() == before


def test_an_administrator_of_every_site_may_too(east, as_user):
    admin = as_user(factories.staff_user("admin", all_sites=True))
    assert admin.put(url(east.site), BODY).status_code == 200
    assert stored(east.site)[0] == D("80.00")


@pytest.mark.parametrize("role", ["cashier", "operator", "readonly"])
def test_a_role_without_the_capability_is_refused_and_nothing_changes(east, as_user, role):
    client = as_user(factories.staff_user(role, east.site))
    before = world()
    response = client.put(url(east.site), BODY)
    assert response.status_code == 403, response.json()
    assert "default alarm thresholds" in errors_of(response)[0][1]
    assert world() == before
    assert stored(east.site) == AS_SHIPPED


def test_another_sites_manager_finds_no_such_site(east, south, as_user):
    manager = as_user(factories.staff_user("manager", south.site))
    before = world()
    for site in (east.site, Site(pk=999_999)):
        response = manager.put(url(site), BODY)
        assert response.status_code == 404, response.json()
        assert errors_of(response) == [(None, f"Site {site.pk} not found.")]
    assert world() == before
    assert stored(east.site) == AS_SHIPPED


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"alarm1_threshold": "20.00"},
            "alarm1_threshold",
            "Alarm 1 must be above alarm 2: it is the first warning.",
        ),
        ({"overdraft_limit": "-1.00"}, "overdraft_limit", "greater than or equal to 0"),
        ({"reconnect_minimum": "1.005"}, "reconnect_minimum", "more than 2 decimal places"),
        ({"alarm2_threshold": 30}, "alarm2_threshold", "not a JSON number"),
        ({"reason": "  "}, "reason", "at least 1 character"),
        ({"reason": None}, "reason", "string"),
    ],
)
def test_refusals_name_the_field_and_write_nothing(east, as_user, change, field, message):
    manager = as_user(factories.staff_user("manager", east.site))
    before = world()
    response = manager.put(url(east.site), {**BODY, **change})
    assert response.status_code == 422, response.json()
    errors = errors_of(response)
    assert [name for name, _ in errors] == [field]
    assert message in errors[0][1]
    assert world() == before
    assert stored(east.site) == AS_SHIPPED


def test_a_missing_default_is_named(east, as_user):
    manager = as_user(factories.staff_user("manager", east.site))
    body = {k: v for k, v in BODY.items() if k != "overdraft_limit"}
    before = world()
    response = manager.put(url(east.site), body)
    assert response.status_code == 422
    assert [name for name, _ in errors_of(response)] == ["overdraft_limit"]
    assert world() == before


def test_a_default_crossing_an_accounts_own_alarm_is_refused(east, as_user):
    east.account.alarm2_threshold = D("40.00")
    east.account.save(update_fields=["alarm2_threshold"])
    manager = as_user(factories.staff_user("manager", east.site))
    before = world()
    response = manager.put(url(east.site), {**BODY, "alarm1_threshold": "40.00"})
    assert response.status_code == 422, response.json()
    ((field, message),) = errors_of(response)
    assert field == "alarm1_threshold"
    assert f"East shop (#{east.account.pk}: 40.00)" in message
    assert world() == before


def test_the_endpoint_is_in_the_openapi_schema(client, db):
    schema = client.get("/api/openapi.json").json()
    put = schema["paths"]["/api/sites/{site_id}/default-thresholds"]["put"]
    assert set(put["responses"]) >= {"200", "403", "404", "422"}
