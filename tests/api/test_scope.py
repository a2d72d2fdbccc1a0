"""Scope: a person sees and acts on their own sites only; elsewhere nothing exists."""

from __future__ import annotations

import pytest

from pems.control.actions import enqueue
from pems.metering.models import MeterEvent
from tests import factories
from tests.api.conftest import errors_of, world


@pytest.fixture
def operator(north, south, as_user):
    return as_user(factories.staff_user("operator", north.site))


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/api/sites/{}", lambda t: t.site.pk),
        ("/api/gateways/{}", lambda t: t.point.meter.gateway_id),
        ("/api/meters/{}", lambda t: t.point.meter_id),
        ("/api/points/{}", lambda t: t.point.pk),
        ("/api/tenants/{}", lambda t: t.tenant.pk),
        ("/api/accounts/{}", lambda t: t.account.pk),
        ("/api/recharges/{}", lambda t: t.sale.pk),
    ],
)
def test_another_sites_object_is_404_like_a_missing_one(operator, north, south, path, target):
    assert operator.get(path.format(target(north))).status_code == 200
    their_id = target(south)
    theirs = operator.get(path.format(their_id))
    missing = operator.get(path.format(999_999))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == {
        "errors": [{**missing.json()["errors"][0] | {"message": _message(missing, their_id)}}]
    }


def _message(missing, ident):
    """The message a missing object gets, for another id."""
    return missing.json()["errors"][0]["message"].replace("999999", str(ident))


def test_lists_hold_only_the_callers_sites(operator, north, south):
    meters = operator.get("/api/meters").json()
    assert [m["number"] for m in meters["items"]] == [north.point.meter.number]
    assert operator.get("/api/meters", site=south.site.pk).json() == {"items": [], "count": 0}
    assert operator.get("/api/meters", number=south.point.meter.number).json()["count"] == 0
    assert {a["id"] for a in operator.get("/api/accounts").json()["items"]} == {north.account.pk}


def test_commands_and_events_of_another_site_stay_hidden(operator, north, south):
    theirs = enqueue(south.point, "trip", actor="setup")
    MeterEvent.objects.create(point=south.point, kind="offline", at=theirs.created_at)
    assert operator.get(f"/api/commands/{theirs.pk}").status_code == 404
    assert operator.get("/api/commands").json()["count"] == 0
    events = operator.get("/api/events").json()
    assert all(e["account"] in (None, north.account.pk) for e in events["items"])
    assert all(e["point"] in (None, north.point.pk) for e in events["items"])
    assert operator.get("/api/readings", point=south.point.pk).status_code == 422


def test_a_cashier_cannot_recharge_another_sites_account(north, south, as_user):
    cashier = as_user(factories.staff_user("cashier", north.site))
    before = world()
    response = cashier.post(
        "/api/recharges",
        {
            "account": south.account.pk,
            "amount": "50.00",
            "currency": "CNY",
            "channel": "cash",
            "idempotency_key": "cross-site",
        },
    )
    assert response.status_code == 422
    assert errors_of(response) == [("account", f"Account {south.account.pk} not found.")]
    assert world() == before


def test_an_operator_cannot_trip_another_sites_meter(operator, north, south):
    before = world()
    response = operator.post(
        "/api/commands", {"point": south.point.pk, "kind": "trip", "reason": "test"}
    )
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "point"
    assert world() == before


def test_a_cashier_sells_on_each_of_their_sites_and_an_all_sites_one_everywhere(
    north, south, as_user
):
    both = as_user(factories.staff_user("cashier", north.site, south.site))
    everywhere = as_user(factories.staff_user("cashier", all_sites=True))
    for n, (who, there) in enumerate([(both, north), (both, south), (everywhere, south)]):
        response = who.post(
            "/api/recharges",
            {
                "account": there.account.pk,
                "amount": "5.00",
                "currency": "CNY",
                "channel": "cash",
                "idempotency_key": f"site-{n}",
            },
        )
        assert response.status_code == 201, response.json()
        assert response.json()["account"] == there.account.pk
