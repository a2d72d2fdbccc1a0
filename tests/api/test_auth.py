"""Who may call the API: bearer tokens (hashed, revocable) and the console's session."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from pems.access.models import ApiToken
from pems.audit.models import AuditEvent
from tests import factories
from tests.api.conftest import TokenClient, errors_of, world


def test_no_token_is_401_with_the_error_shape(north):
    response = Client().get("/api/sites")
    assert response.status_code == 401
    [(field, message)] = errors_of(response)
    assert field is None
    assert "Bearer" in message


def test_an_unknown_token_is_401(north):
    assert TokenClient("not-a-token").get("/api/sites").status_code == 401


def test_a_revoked_token_is_401(north, as_user):
    client = as_user(factories.staff_user("readonly", north.site))
    assert client.get("/api/sites").status_code == 200
    ApiToken.objects.get().revoke()
    assert client.get("/api/sites").status_code == 401


def test_a_token_of_a_deactivated_user_is_401(north, as_user):
    user = factories.staff_user("readonly", north.site)
    client = as_user(user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/api/sites").status_code == 401


def test_a_login_without_a_role_is_403(north, as_user):
    nobody = get_user_model().objects.create_user("nobody", password="x-Secret-42")
    response = as_user(nobody).get("/api/sites")
    assert response.status_code == 403
    assert errors_of(response) == [(None, "This login has no role in PEMS.")]


def test_only_the_hash_is_stored_and_use_is_noted(north):
    user = factories.staff_user("readonly", north.site)
    token, secret = ApiToken.issue(user, "billing system")
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert TokenClient(secret).get("/api/sites").json()["count"] == 1
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_console_session_works_and_unsafe_methods_need_the_csrf_token(north):
    cashier = factories.staff_user("cashier", north.site)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cashier)
    assert browser.get("/api/accounts").json()["count"] == 1
    sale = {
        "account": north.account.pk,
        "amount": "10.00",
        "currency": "CNY",
        "channel": "cash",
        "idempotency_key": "csrf-1",
    }
    before = world()
    refused = browser.post("/api/recharges", sale, content_type="application/json")
    assert refused.status_code == 403
    assert world() == before
    browser.get("/api/docs")  # any page that sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        "/api/recharges", sale, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 201, accepted.json()


def test_pems_token_create_prints_a_working_token_once_and_revoke_stops_it(north):
    factories.staff_user("readonly", north.site, username="erp")
    out, err = StringIO(), StringIO()
    call_command("token", "create", "erp", "--name", "ERP", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert "cannot show it again" in err.getvalue()
    assert token.name == "ERP"
    assert TokenClient(secret).get("/api/sites").status_code == 200

    listing = StringIO()
    call_command("token", "list", stdout=listing)
    assert "ERP" in listing.getvalue()
    assert secret not in listing.getvalue()

    call_command("token", "revoke", str(token.pk), "--reason", "left", stdout=StringIO())
    assert TokenClient(secret).get("/api/sites").status_code == 401
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "reason"))
    assert actions[-2:] == [("token.create", ""), ("token.revoke", "left")]


def test_pems_token_create_refuses_a_login_without_a_role(db):
    get_user_model().objects.create_user("ghost", password="x-Secret-42")
    with pytest.raises(CommandError, match="no PEMS role"):
        call_command("token", "create", "ghost", "--name", "x", stdout=StringIO())
    assert not ApiToken.objects.exists()


def test_the_admin_lists_tokens_without_secrets_and_can_revoke(north):
    root = get_user_model().objects.create_superuser("root", password="x-Secret-42")
    token, secret = ApiToken.issue(root, "CI")
    admin = Client()
    admin.force_login(root)
    page = admin.get("/admin/access/apitoken/")
    assert page.status_code == 200
    assert "CI" in page.content.decode()
    assert secret not in page.content.decode()
    assert token.digest not in page.content.decode()
    admin.post("/admin/access/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoke", actor=root).exists()


def test_a_token_holder_is_read_in_one_statement_with_its_role(north, django_assert_num_queries):
    cashier = factories.staff_user("cashier", north.site, username="cashier-wu")
    _token, secret = ApiToken.issue(cashier, "till")
    ApiToken.holder(secret)  # notes the first use (one UPDATE a minute at most)
    with django_assert_num_queries(1):
        holder = ApiToken.holder(secret)
        assert holder.user == cashier
        assert (holder.user.staff.role, holder.user.staff.user) == ("cashier", holder.user)
        assert holder.user.staff.all_sites is False


def test_a_holder_without_a_role_is_read_as_having_none(north, django_assert_num_queries):
    plain = get_user_model().objects.create_user("no-role")
    _token, secret = ApiToken.issue(plain, "tests")
    ApiToken.holder(secret)
    with django_assert_num_queries(1):
        holder = ApiToken.holder(secret)
        assert getattr(holder.user, "staff", None) is None
