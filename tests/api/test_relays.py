"""Relay orders through the API mean what they mean in the console (one shared action)."""

from __future__ import annotations

from decimal import Decimal

from pems.accounts.actions import set_thresholds
from pems.control.models import Command
from tests import factories
from tests.api.conftest import errors_of, world


def order(point, kind: str, key: str) -> dict:
    return {
        "point": point.pk,
        "kind": kind,
        "reason": "electrician's order",
        "idempotency_key": key,
    }


def test_keep_power_through_the_api_sets_the_accounts_flag_too(north, as_user):
    operator = as_user(factories.staff_user("operator", north.site))
    assert (
        operator.post("/api/commands", order(north.point, "keep_power_on", "k1")).status_code == 201
    )
    north.account.refresh_from_db()
    assert north.account.keep_power
    assert (
        operator.post("/api/commands", order(north.point, "resume_prepaid", "k2")).status_code
        == 201
    )
    north.account.refresh_from_db()
    assert not north.account.keep_power


def test_a_close_the_policy_would_undo_is_refused_and_changes_nothing(north, as_user):
    set_thresholds(north.account, "setup", "test", reconnect_minimum=Decimal("500.00"))
    operator = as_user(factories.staff_user("operator", north.site))
    trip = operator.post("/api/commands", order(north.point, "trip", "k1"))
    assert trip.status_code == 201
    Command.objects.filter(pk=trip.json()["id"]).update(status="confirmed")
    before = world()
    refused = operator.post("/api/commands", order(north.point, "close", "k2"))
    assert refused.status_code == 409
    ((field, message),) = errors_of(refused)
    assert field == "point"
    assert "not above the reconnect minimum" in message
    assert world() == before
