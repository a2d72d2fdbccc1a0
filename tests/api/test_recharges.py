"""Selling credit through the API: idempotent on the client's key, reversible once."""

from __future__ import annotations

import pytest
from django.db import connection

from pems.accounts.actions import balance
from pems.accounts.models import Account
from pems.control.models import Command
from pems.ledger.models import JournalEntry
from tests import factories
from tests.api.conftest import errors_of, tenancy, world


@pytest.fixture
def cashier(north, as_user):
    return as_user(factories.staff_user("cashier", north.site, username="cashier-li"))


def sale(account, key="till-7-0001", amount="50.00"):
    return {
        "account": account.pk,
        "amount": amount,
        "currency": "CNY",
        "channel": "cash",
        "idempotency_key": key,
    }


def test_a_replayed_key_answers_the_original_sale_and_credits_once(cashier, north):
    first = cashier.post("/api/recharges", sale(north.account))
    assert first.status_code == 201
    after_first = world()
    for _ in range(10):
        again = cashier.post("/api/recharges", sale(north.account))
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
    assert world() == after_first
    assert balance(north.account).amount == 150
    assert first.json()["idempotency_key"] == "till-7-0001"


def test_a_key_reused_for_another_sale_is_409_and_changes_nothing(cashier, north):
    cashier.post("/api/recharges", sale(north.account))
    before = world()
    response = cashier.post("/api/recharges", sale(north.account, amount="60.00"))
    assert response.status_code == 409
    assert errors_of(response)[0][0] == "idempotency_key"
    assert world() == before


def test_a_sale_answers_money_as_strings(cashier, north):
    body = cashier.post("/api/recharges", sale(north.account)).json()
    assert body["amount"] == "50.00"
    assert body["fee"] == "0.00"
    assert body["credited"] == "50.00"
    assert body["balance"] == "150.00"
    assert body["currency"] == "CNY"
    assert body["by"] == "cashier-li"
    assert body["credit_push"] is None  # a server-side point holds no credit


def test_a_meter_side_sale_queues_the_credit_push(db, as_user):
    shop = tenancy("East", credit="10.00", fee_control="meter-side")
    client = as_user(factories.staff_user("cashier", shop.site))
    body = client.post("/api/recharges", sale(shop.account, key="east-1")).json()
    push = Command.objects.get(pk=body["credit_push"])
    assert (push.kind, push.payload) == ("push_credit", {"amount": "50.00"})
    # The answer's balance is the wallet after the credit moved on to the meter.
    assert body["balance"] == str(balance(shop.account).amount) == "0.00"


def test_a_sale_is_reversed_once_and_the_balance_returns(north, as_user):
    manager = as_user(factories.staff_user("manager", north.site))
    sold = manager.post("/api/recharges", sale(north.account)).json()
    first = manager.post(f"/api/recharges/{sold['id']}/reversal", {"reason": "wrong room"})
    assert first.status_code == 201, first.json()
    assert balance(north.account).amount == 100
    settled = world()
    second = manager.post(f"/api/recharges/{sold['id']}/reversal", {"reason": "again"})
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert world() == settled
    listed = manager.get(f"/api/recharges/{sold['id']}").json()
    assert listed["reversed_by"] == first.json()["id"]
    replayed = manager.post("/api/recharges", sale(north.account))
    assert (replayed.status_code, replayed.json()["reversed_by"]) == (200, first.json()["id"])
    assert world() == settled


def test_opening_an_account_with_a_first_purchase(north, as_user):
    cashier = as_user(factories.staff_user("cashier", north.site))
    point = factories.MeteringPointFactory(meter__gateway__site=north.site)
    tenant = cashier.post(
        "/api/tenants",
        {"site": north.site.pk, "name": "Noodle bar", "mobile": "13800138000", "reason": "new"},
    )
    assert tenant.status_code == 201, tenant.json()
    opened = cashier.post(
        "/api/accounts",
        {
            "tenant": tenant.json()["id"],
            "metering_points": [point.pk],
            "alarm1_threshold": "30.00",
            "alarm2_threshold": "10.00",
            "first_purchase": {
                "amount": "200.00",
                "currency": "CNY",
                "channel": "alipay",
                "idempotency_key": "open-noodle",
            },
            "reason": "new lease",
        },
    )
    assert opened.status_code == 201, opened.json()
    body = opened.json()
    assert (body["balance"], body["metering_points"]) == ("200.00", [point.pk])
    assert body["alarm1_threshold"] == "30.00"
    account = Account.objects.get(pk=body["id"])
    assert JournalEntry.objects.get(account=account, kind="recharge").memo["channel"] == "alipay"


def test_a_failed_first_purchase_opens_no_account(north, as_user):
    cashier = as_user(factories.staff_user("cashier", north.site))
    point = factories.MeteringPointFactory(meter__gateway__site=north.site)
    cashier.post("/api/recharges", sale(north.account, key="used"))
    before = (world(), Account.objects.count())
    response = cashier.post(
        "/api/accounts",
        {
            "tenant": north.tenant.pk,
            "metering_points": [point.pk],
            "first_purchase": {
                "amount": "20.00",
                "currency": "CNY",
                "channel": "cash",
                "idempotency_key": "used",
            },
        },
    )
    assert response.status_code == 409
    assert errors_of(response)[0][0] == "first_purchase.idempotency_key"
    assert (world(), Account.objects.count()) == before
    wrong_currency = cashier.post(
        "/api/accounts",
        {
            "tenant": north.tenant.pk,
            "metering_points": [point.pk],
            "first_purchase": {
                "amount": "20.00",
                "currency": "USD",
                "channel": "cash",
                "idempotency_key": "fresh",
            },
        },
    )
    assert errors_of(wrong_currency)[0][0] == "first_purchase.currency"
    assert (world(), Account.objects.count()) == before


def test_sales_are_listed_newest_first_with_filters(cashier, north):
    for n in range(3):
        cashier.post("/api/recharges", sale(north.account, key=f"k{n}", amount=f"{n + 1}.00"))
    listed = cashier.get("/api/recharges", account=north.account.pk, limit=2).json()
    assert listed["count"] == 4  # three here and the seed sale
    assert [item["amount"] for item in listed["items"]] == ["3.00", "2.00"]
    assert cashier.get("/api/recharges", channel="wechat").json()["count"] == 0
    assert cashier.get("/api/recharges", channel="cash").json()["count"] == 4
    assert cashier.get("/api/recharges", by="cashier-li").json()["count"] == 3


def statements_of_a_second_sale(client, account):
    """The answer to a sale over the API and the SQL it ran (after a first sale that touched
    the token and made the rows; docs/benchmarks.md, "The recharge API over HTTP")."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.post("/api/recharges", sale(account, key="warm-up"))
    with CaptureQueriesContext(connection) as queries:
        answer = client.post("/api/recharges", sale(account, key="till-7-0002"))
    assert answer.status_code == 201, answer.json()
    return answer.json(), [q["sql"] for q in queries.captured_queries]


def test_a_sale_over_the_api_runs_seven_statements(cashier, north):
    answer, statements = statements_of_a_second_sale(cashier, north.account)
    # token holder; SAVEPOINT (BEGIN in production); the account found among the caller's
    # sites and locked, in one; the sale's reads (which tell whether the key is new), the
    # alarm state, the posting (the entry, its postings, its audit event and the ledger
    # rows: one statement on PostgreSQL, four on SQLite); RELEASE (COMMIT). The capability
    # is judged on the role, the site being the account's; the answer's balance is the sale's.
    posting = 1 if connection.vendor == "postgresql" else 4
    assert len(statements) == 6 + posting, "\n".join(statements)
    assert statements[2].startswith('SELECT "accounts_account"."id"')
    assert "access_staff_sites" in statements[2]
    assert answer["balance"] == "200.00"
    assert balance(north.account).amount == 200


def test_a_meter_side_sale_over_the_api_runs_thirteen_statements(db, as_user):
    shop = tenancy("West", credit="10.00", fee_control="meter-side")
    client = as_user(factories.staff_user("cashier", shop.site))
    answer, statements = statements_of_a_second_sale(client, shop.account)
    # The ten of a server-side sale, the transfer entry, the point's lock and the push;
    # the answer's balance comes from the sale, not from a read after it.
    assert len(statements) == 13, "\n".join(statements)
    assert answer["balance"] == "0.00"
