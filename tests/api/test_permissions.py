"""Roles: cashiers sell, operators switch meters, read-only people only read.

A refused request answers 403 and changes nothing: balances, ledger,
command queue and audit log are as they were.
"""

from __future__ import annotations

import pytest

from pems.accounts.actions import balance
from pems.control.models import Command
from tests import factories
from tests.api.conftest import world


def sale(account, key):
    return {
        "account": account.pk,
        "amount": "25.00",
        "currency": "CNY",
        "channel": "wechat",
        "idempotency_key": key,
        "reason": "walk-in",
    }


def trip(point):
    return {"point": point.pk, "kind": "trip", "reason": "wiring check"}


@pytest.mark.parametrize(
    ("role", "may_sell", "may_switch"),
    [
        ("cashier", True, False),
        ("operator", False, True),
        ("readonly", False, False),
        ("manager", True, True),
    ],
)
def test_each_role_may_do_what_it_is_granted_and_nothing_else(
    north, as_user, role, may_sell, may_switch
):
    client = as_user(factories.staff_user(role, north.site))
    for allowed, path, body in [
        (may_sell, "/api/recharges", sale(north.account, f"perm-{role}")),
        (may_switch, "/api/commands", trip(north.point)),
    ]:
        before = world()
        response = client.post(path, body)
        if allowed:
            assert response.status_code == 201, response.json()
            assert world() != before
        else:
            assert response.status_code == 403, response.json()
            assert world() == before


def test_a_cashiers_sale_moves_the_balance_and_names_the_cashier(north, as_user):
    cashier = factories.staff_user("cashier", north.site, username="li")
    response = as_user(cashier).post("/api/recharges", sale(north.account, "li-1"))
    body = response.json()
    assert (body["amount"], body["credited"], body["balance"]) == ("25.00", "25.00", "125.00")
    assert body["by"] == "li"
    assert balance(north.account).amount == 125


def test_an_operators_trip_is_queued_and_audited_with_the_reason(north, as_user):
    operator = factories.staff_user("operator", north.site, username="wang")
    body = as_user(operator).post("/api/commands", trip(north.point)).json()
    command = Command.objects.get(pk=body["id"])
    assert (command.kind, command.status, command.requested_by) == ("trip", "pending", "wang")
    from pems.audit.models import AuditEvent

    event = AuditEvent.objects.get(action="control.enqueue", object_id=str(command.pk))
    assert (event.actor, event.reason) == (operator, "wiring check")


@pytest.mark.parametrize("role", ["cashier", "operator", "readonly"])
def test_refunds_and_reversals_need_their_own_capability(north, as_user, role):
    client = as_user(factories.staff_user(role, north.site))
    before = world()
    refund = {**sale(north.account, "refund-1"), "reason": "moving out"}
    assert client.post("/api/refunds", refund).status_code == 403
    reversal = client.post(f"/api/recharges/{north.sale.pk}/reversal", {"reason": "typo"})
    assert reversal.status_code == 403
    assert world() == before


def test_a_manager_refunds_and_reverses(north, as_user):
    client = as_user(factories.staff_user("manager", north.site))
    refund = {**sale(north.account, "refund-1"), "reason": "moving out"}
    refunded = client.post("/api/refunds", refund)
    assert refunded.status_code == 201, refunded.json()
    assert refunded.json()["balance"] == "75.00"
    reversed_ = client.post(f"/api/refunds/{refunded.json()['id']}/reversal", {"reason": "oops"})
    assert reversed_.status_code == 201, reversed_.json()
    assert balance(north.account).amount == 100


def test_readonly_reads_everything_of_its_site(north, as_user):
    client = as_user(factories.staff_user("readonly", north.site))
    for path in [
        "/api/sites",
        "/api/gateways",
        "/api/meters",
        "/api/points",
        "/api/tenants",
        "/api/accounts",
        "/api/recharges",
        "/api/refunds",
        "/api/commands",
        "/api/events",
    ]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.content)
