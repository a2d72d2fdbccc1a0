"""An account's tariff and thresholds through the API: by capability, audited, meter-side
meters told, refused by field with nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pems.accounts.models import Account
from pems.audit.models import AuditEvent
from pems.billing.models import AccountTariff, SettlementCursor
from pems.billing.tariffs import create_tariff
from pems.control.models import Command, CommandKind
from tests import factories
from tests.api.conftest import errors_of, tenancy, world
from tests.billing.scenarios import flat_tariff_document

D = Decimal
START = "2030-01-01T00:00:00+08:00"
BODY = {"effective_from": START, "reason": "moved to the shop rate", "idempotency_key": "t-1"}


@pytest.fixture
def east(db):
    """A site whose tenant pays for a meter-side point and a server-side one."""
    found = tenancy("East", fee_control="meter-side")
    server_side = factories.MeteringPointFactory(
        meter__gateway=found.point.meter.gateway, fee_control="server-side"
    )
    found.account.links.create(metering_point=server_side)
    found.server_side = server_side
    found.tariff = create_tariff(found.site, "Shop", flat_tariff_document("1.25"), actor="setup")
    return found


def tariff_url(account) -> str:
    return f"/api/accounts/{account.pk}/tariff"


def thresholds_url(account) -> str:
    return f"/api/accounts/{account.pk}/thresholds"


def commands(kind: str) -> dict[int, Command]:
    return {c.point_id: c for c in Command.objects.filter(kind=kind)}


def test_a_manager_changes_the_tariff_and_the_meter_side_meter_is_told(east, as_user):
    person = factories.staff_user("manager", east.site)
    manager = as_user(person)
    response = manager.post(tariff_url(east.account), {**BODY, "tariff": east.tariff.pk})

    assert response.status_code == 201, response.json()
    body = response.json()
    assignment = AccountTariff.objects.get(account=east.account)
    assert body == {
        "id": assignment.pk,
        "account": east.account.pk,
        "tariff": east.tariff.pk,
        "tariff_name": "Shop",
        "effective_from": "2029-12-31T16:00:00Z",
        "meters_told": 1,
    }
    assert assignment.tariff == east.tariff
    assert assignment.effective_from == dt.datetime(2029, 12, 31, 16, tzinfo=dt.UTC)
    event = AuditEvent.objects.get(action="account.tariff")
    assert (event.object_id, event.actor, event.reason) == (
        str(east.account.pk),
        person,
        "moved to the shop rate",
    )
    pushes = commands(CommandKind.SET_PRICES)
    assert set(pushes) == {east.point.pk}  # the server-side point is priced by PEMS
    push = pushes[east.point.pk]
    assert push.payload == {"sharp": "1.25", "peak": "1.25", "flat": "1.25", "valley": "1.25"}
    assert push.not_before == assignment.effective_from
    assert push.idempotency_key == f"api:t-1:{east.point.pk}:{CommandKind.SET_PRICES}"

    # A retried request: the same answer, nothing written or queued again.
    before = world()
    again = manager.post(tariff_url(east.account), {**BODY, "tariff": east.tariff.pk})
    assert again.status_code == 200, again.json()
    assert again.json() == body
    assert world() == before
    assert AccountTariff.objects.filter(account=east.account).count() == 1


def test_another_tariff_at_a_stored_start_or_a_reused_key_is_a_conflict(east, as_user):
    manager = as_user(factories.staff_user("manager", east.site))
    assert (
        manager.post(tariff_url(east.account), {**BODY, "tariff": east.tariff.pk}).status_code
        == 201
    )
    other = create_tariff(east.site, "Other", flat_tariff_document("2.00"), actor="setup")
    before = world()
    clash = manager.post(tariff_url(east.account), {**BODY, "tariff": other.pk})
    assert clash.status_code == 409
    assert [f for f, _ in errors_of(clash)] == ["effective_from"]
    later = {**BODY, "tariff": other.pk, "effective_from": "2031-01-01T00:00:00+08:00"}
    reused = manager.post(tariff_url(east.account), later)
    assert reused.status_code == 409
    assert [f for f, _ in errors_of(reused)] == ["idempotency_key"]
    assert world() == before
    assert AccountTariff.objects.filter(account=east.account).count() == 1


def test_a_cashier_may_not_change_the_tariff(east, as_user):
    cashier = as_user(factories.staff_user("cashier", east.site))
    before = world()
    response = cashier.post(tariff_url(east.account), {**BODY, "tariff": east.tariff.pk})
    assert response.status_code == 403
    assert world() == before
    assert not AccountTariff.objects.exists()


def test_another_sites_account_is_not_found_and_its_tariff_is_refused(east, as_user):
    south = tenancy("South")
    manager = as_user(factories.staff_user("manager", south.site, east.site))
    elsewhere = as_user(factories.staff_user("manager", south.site))
    before = world()

    missing = elsewhere.post(tariff_url(east.account), {**BODY, "tariff": east.tariff.pk})
    assert missing.status_code == 404
    assert errors_of(missing) == [(None, f"Account {east.account.pk} not found.")]
    hidden = elsewhere.post(tariff_url(south.account), {**BODY, "tariff": east.tariff.pk})
    assert hidden.status_code == 422
    assert errors_of(hidden) == [("tariff", f"Tariff {east.tariff.pk} not found.")]
    wrong_site = manager.post(tariff_url(south.account), {**BODY, "tariff": east.tariff.pk})
    assert wrong_site.status_code == 422
    assert errors_of(wrong_site) == [("tariff", "The tariff belongs to another site.")]

    assert world() == before
    assert not AccountTariff.objects.exists()


def test_a_start_before_what_is_settled_is_refused_with_nothing_written(east, as_user):
    SettlementCursor.objects.create(
        account=east.account,
        point=east.server_side,
        settled_until=dt.datetime(2030, 6, 1, tzinfo=dt.UTC),
        last_total=D("0"),
    )
    manager = as_user(factories.staff_user("manager", east.site))
    before = world()
    response = manager.post(tariff_url(east.account), {**BODY, "tariff": east.tariff.pk})
    assert response.status_code == 409, response.json()
    ((field, message),) = errors_of(response)
    assert field == "effective_from"
    assert "settled until 2030-06-01" in message
    assert world() == before
    assert not AccountTariff.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"effective_from": "2030-01-01T00:00:00"}, "effective_from"),  # no offset
        ({"reason": " "}, "reason"),
        ({"tariff": None}, "tariff"),
    ],
)
def test_tariff_requests_are_checked_by_field(east, as_user, change, field):
    manager = as_user(factories.staff_user("manager", east.site))
    before = world()
    response = manager.post(tariff_url(east.account), {**BODY, "tariff": east.tariff.pk, **change})
    assert response.status_code == 422
    assert [f for f, _ in errors_of(response)] == [field]
    assert world() == before


THRESHOLDS = {"alarm1_threshold": "80.00", "overdraft_limit": "10.00", "reason": "tenant asked"}


def test_an_operator_changes_the_thresholds_and_the_meter_is_told(east, as_user):
    person = factories.staff_user("operator", east.site)
    operator = as_user(person)
    response = operator.patch(thresholds_url(east.account), THRESHOLDS)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["meters_told"] == 1
    assert body["account"]["id"] == east.account.pk
    assert (body["account"]["alarm1_threshold"], body["account"]["overdraft_limit"]) == (
        "80.00",
        "10.00",
    )
    assert body["account"]["alarm2_threshold"] is None  # not sent: unchanged
    account = Account.objects.get(pk=east.account.pk)
    assert (account.alarm1_threshold, account.overdraft_limit) == (D("80.00"), D("10.00"))
    event = AuditEvent.objects.get(action="account.thresholds")
    assert (event.actor, event.reason) == (person, "tenant asked")
    assert event.changes["alarm1_threshold"] == [None, "80.00"]
    (alarm,) = commands(CommandKind.SET_ALARMS).values()
    assert alarm.point_id == east.point.pk
    assert alarm.payload == {"alarm1": "80.00", "alarm2": "20.00", "overdraft": "10.00"}

    # The same values again change nothing and queue nothing.
    before = world()
    again = operator.patch(thresholds_url(east.account), THRESHOLDS)
    assert again.status_code == 200
    assert again.json()["meters_told"] == 0
    assert world() == before


def test_null_falls_back_on_the_sites_default(east, as_user):
    east.account.alarm1_threshold = D("90.00")
    east.account.save(update_fields=["alarm1_threshold"])
    operator = as_user(factories.staff_user("operator", east.site))
    response = operator.patch(
        thresholds_url(east.account), {"alarm1_threshold": None, "reason": "back to default"}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["account"]["alarm1_threshold"] is None
    assert Account.objects.get(pk=east.account.pk).alarm1_threshold is None
    (alarm,) = commands(CommandKind.SET_ALARMS).values()
    assert alarm.payload["alarm1"] == "50.00"  # the site's default


def test_alarm_1_not_above_alarm_2_is_refused_on_its_field(east, as_user):
    operator = as_user(factories.staff_user("operator", east.site))
    before = world()
    response = operator.patch(
        thresholds_url(east.account), {"alarm1_threshold": "15.00", "reason": "x"}
    )
    assert response.status_code == 422, response.json()
    ((field, message),) = errors_of(response)
    assert field == "alarm1_threshold"
    assert "must be above alarm 2" in message
    assert world() == before
    assert Account.objects.get(pk=east.account.pk).alarm1_threshold is None


@pytest.mark.parametrize("role", ["cashier", "readonly"])
def test_a_role_without_the_capability_may_not_change_thresholds(east, as_user, role):
    client = as_user(factories.staff_user(role, east.site))
    before = world()
    response = client.patch(thresholds_url(east.account), THRESHOLDS)
    assert response.status_code == 403
    assert world() == before
    assert Account.objects.get(pk=east.account.pk).alarm1_threshold is None


def test_a_patch_naming_no_threshold_is_refused(east, as_user):
    operator = as_user(factories.staff_user("operator", east.site))
    before = world()
    response = operator.patch(thresholds_url(east.account), {"reason": "nothing"})
    assert response.status_code == 422
    assert world() == before


def test_the_endpoints_are_in_the_openapi_schema(client, db):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "post" in paths["/api/accounts/{account_id}/tariff"]
    assert "patch" in paths["/api/accounts/{account_id}/thresholds"]
    assert "get" in paths["/api/tariffs"]
    assert "get" in paths["/api/tariffs/{tariff_id}"]
