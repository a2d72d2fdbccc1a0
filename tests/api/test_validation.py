"""Bad input: a 422 (or 409 for a refused action) naming the field, and nothing changes."""

from __future__ import annotations

import pytest

from pems.accounts.actions import close_account
from tests import factories
from tests.api.conftest import errors_of, world


@pytest.fixture
def cashier(north, as_user):
    return as_user(factories.staff_user("manager", north.site))


def sale(of, **changes):
    return {
        "account": of.pk,
        "amount": "10.00",
        "currency": "CNY",
        "channel": "cash",
        "idempotency_key": "v-1",
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount": 10.5}, "amount", "must be a decimal string"),
        ({"amount": 10}, "amount", "must be a decimal string"),
        ({"amount": "ten"}, "amount", "is not a decimal number"),
        ({"amount": "10.001"}, "amount", "more decimals than CNY allows"),
        ({"amount": "0.00"}, "amount", "must be positive"),
        ({"amount": "-5.00"}, "amount", "must be positive"),
        ({"currency": "USD"}, "currency", "sells in CNY, not USD"),
        ({"currency": "yuan"}, "currency", "should match pattern"),
        ({"channel": "bitcoin"}, "channel", "Input should be"),
        ({"idempotency_key": ""}, "idempotency_key", "1–80 printable ASCII characters"),
        ({"idempotency_key": "till 7"}, "idempotency_key", "without spaces"),
        ({"idempotency_key": "k" * 81}, "idempotency_key", "1–80 printable"),
        ({"idempotency_key": None}, "idempotency_key", "valid string"),
        ({"account": "abc"}, "account", "valid integer"),
        ({"account": 999_999}, "account", "Account 999999 not found."),
    ],
)
def test_a_bad_sale_names_its_field_and_sells_nothing(cashier, north, changes, field, message):
    before = world()
    response = cashier.post("/api/recharges", sale(north.account, **changes))
    assert response.status_code == 422, response.json()
    [(got_field, got_message)] = errors_of(response)
    assert got_field == field
    assert message in got_message
    assert world() == before


def test_every_missing_field_is_named_at_once(cashier):
    response = cashier.post("/api/recharges", {})
    assert response.status_code == 422
    fields = {field for field, _ in errors_of(response)}
    assert fields == {"account", "amount", "currency", "channel", "idempotency_key"}


def test_a_body_that_is_not_json_is_400_in_the_error_shape(cashier):
    response = cashier.client.post(
        "/api/recharges",
        "{not json",
        content_type="application/json",
        headers=cashier._headers(),
    )
    assert response.status_code == 400
    assert errors_of(response)


def test_a_closed_account_is_409_on_the_account_field(cashier, north):
    close_account(north.account, actor="setup", reason="moved out")
    before = world()
    response = cashier.post("/api/recharges", sale(north.account))
    assert response.status_code == 409
    [(field, message)] = errors_of(response)
    assert field == "account"
    assert "closed" in message
    assert world() == before


def test_refunding_more_than_the_balance_is_409_on_amount(cashier, north):
    before = world()
    response = cashier.post(
        "/api/refunds", sale(north.account, amount="100.01", reason="moving out")
    )
    assert response.status_code == 409
    assert errors_of(response)[0][0] == "amount"
    assert world() == before


def test_a_refund_needs_a_reason(cashier, north):
    response = cashier.post("/api/refunds", sale(north.account, reason="  "))
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "reason"


def test_opening_an_account_on_a_taken_point_names_metering_points(cashier, north):
    before = world()
    response = cashier.post(
        "/api/accounts", {"tenant": north.tenant.pk, "metering_points": [north.point.pk]}
    )
    assert response.status_code == 422
    assert errors_of(response) == [
        ("metering_points", "This metering point already belongs to an open account.")
    ]
    assert world() == before


def test_opening_an_account_on_thousands_of_points_is_refused_on_metering_points(cashier, north):
    before = world()
    response = cashier.post(
        "/api/accounts", {"tenant": north.tenant.pk, "metering_points": list(range(1, 70_001))}
    )
    assert response.status_code == 422
    [(field, message)] = errors_of(response)
    assert field == "metering_points"
    assert "at most 100 items" in message
    assert world() == before


def test_thresholds_are_checked_by_the_model_and_named(cashier, north):
    point = factories.MeteringPointFactory(meter__gateway__site=north.site)
    response = cashier.post(
        "/api/accounts",
        {
            "tenant": north.tenant.pk,
            "metering_points": [point.pk],
            "alarm1_threshold": "10.00",
            "alarm2_threshold": "20.00",
        },
    )
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "alarm1_threshold"


def test_a_tenant_with_a_bad_mobile_is_refused_on_mobile(cashier, north):
    before = world()
    response = cashier.post(
        "/api/tenants", {"site": north.site.pk, "name": "Tea house", "mobile": "12"}
    )
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "mobile"
    assert world() == before


def test_a_time_without_an_offset_is_refused(cashier, north):
    response = cashier.get("/api/readings", point=north.point.pk, since="2026-03-01T00:00:00")
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "since"


def test_an_unknown_command_kind_is_422_on_kind(north, as_user):
    operator = as_user(factories.staff_user("operator", north.site))
    before = world()
    response = operator.post(
        "/api/commands", {"point": north.point.pk, "kind": "push_credit", "reason": "free money"}
    )
    assert response.status_code == 422
    assert errors_of(response)[0][0] == "kind"
    assert world() == before


def test_a_currency_code_in_lower_case_is_understood(cashier, north):
    response = cashier.post("/api/recharges", sale(north.account, currency="cny"))
    assert response.status_code == 201, response.json()
    assert response.json()["currency"] == "CNY"
