"""Tariffs through the API: read by every role of their site, versions with their state."""

from __future__ import annotations

import pytest

from pems.billing.tariffs import create_tariff
from tests import factories
from tests.api.conftest import errors_of, tenancy

#: Three versions: replaced, in force, and one that starts long after these tests.
THREE_VERSIONS = """
name = "Shop"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"

[[versions]]
id = "v1"
effective_from = 2020-01-01
prices = { flat = 0.90 }

[[versions]]
id = "v2"
effective_from = 2021-01-01
prices = { peak = 1.30, flat = 1.00, valley = 0.50 }
service_fee_ratio = 0.05

[[versions]]
id = "v3"
effective_from = 2099-01-01
prices = { flat = 1.20 }
"""

WATER = """
name = "Water"
currency = "CNY"
unit = "m3"
timezone = "Asia/Shanghai"

[[versions]]
id = "w1"
effective_from = 2020-01-01
prices = { flat = 4.50 }
"""


@pytest.fixture
def catalogue(db):
    north, south = tenancy("North"), tenancy("South")
    return {
        "north": north,
        "south": south,
        "shop": create_tariff(north.site, "Shop", THREE_VERSIONS, actor="setup"),
        "water": create_tariff(north.site, "Water", WATER, actor="setup", utility="water"),
        "elsewhere": create_tariff(south.site, "Shop", THREE_VERSIONS, actor="setup"),
    }


def test_the_list_holds_the_callers_sites_only_and_filters(catalogue, as_user):
    cashier = as_user(factories.staff_user("cashier", catalogue["north"].site))
    listed = cashier.get("/api/tariffs").json()
    assert listed["count"] == 2
    assert [t["name"] for t in listed["items"]] == ["Shop", "Water"]
    assert {t["site"] for t in listed["items"]} == {catalogue["north"].site.pk}

    water = cashier.get("/api/tariffs", utility="water").json()
    assert [t["id"] for t in water["items"]] == [catalogue["water"].pk]
    other = cashier.get("/api/tariffs", site=catalogue["south"].site.pk).json()
    assert other == {"items": [], "count": 0}

    admin = as_user(factories.staff_user("admin", all_sites=True))
    south = admin.get("/api/tariffs", site=catalogue["south"].site.pk).json()
    assert [t["id"] for t in south["items"]] == [catalogue["elsewhere"].pk]


def test_one_tariff_shows_its_versions_with_their_state_and_prices(catalogue, as_user):
    reader = as_user(factories.staff_user("readonly", catalogue["north"].site))
    response = reader.get(f"/api/tariffs/{catalogue['shop'].pk}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["name"], body["utility"], body["currency"], body["unit"]) == (
        "Shop",
        "electricity",
        "CNY",
        "kWh",
    )
    assert (body["time_zone"], body["problem"]) == ("Asia/Shanghai", "")
    assert body["site"] == catalogue["north"].site.pk
    assert body["created_at"]
    versions = body["versions"]
    assert [(v["id"], v["state"]) for v in versions] == [
        ("v1", "past"),
        ("v2", "current"),
        ("v3", "future"),
    ]
    # Local midnight in Shanghai, answered in UTC.
    assert versions[1]["effective_from"].startswith("2020-12-31T16:00:00")
    assert versions[1]["prices"] == {"peak": "1.30", "flat": "1.00", "valley": "0.50"}
    assert versions[1]["service_fee_ratio"] == "0.05"
    assert versions[1]["tiers"] is None
    assert versions[0]["prices"] == {"flat": "0.90"}


def test_another_sites_tariff_is_not_found(catalogue, as_user):
    manager = as_user(factories.staff_user("manager", catalogue["north"].site))
    for pk in (catalogue["elsewhere"].pk, 999_999):
        response = manager.get(f"/api/tariffs/{pk}")
        assert response.status_code == 404
        assert errors_of(response) == [(None, f"Tariff {pk} not found.")]
