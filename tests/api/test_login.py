"""Login hardening: Argon2 password hashes and a lockout after five wrong passwords."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import identify_hasher
from django.test import Client

from pems import settings as project_settings

PASSWORD = "x-Secret-42"


@pytest.fixture
def argon2(settings):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


@pytest.fixture
def root(db, argon2):
    return get_user_model().objects.create_superuser("root", password=PASSWORD)


def log_in(client: Client, password: str):
    return client.post(
        "/admin/login/", {"username": "root", "password": password, "next": "/admin/"}
    )


def test_passwords_are_hashed_with_argon2(root):
    assert identify_hasher(root.password).algorithm == "argon2"


def test_the_admin_login_works(root):
    client = Client()
    response = log_in(client, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_sixth_attempt_after_five_wrong_passwords_is_refused_even_when_right(root):
    client = Client()
    answers = [log_in(client, "wrong").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]  # the form again, then "locked out"
    refused = log_in(client, PASSWORD)
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still sent to the login page


def test_four_wrong_passwords_do_not_lock_the_account(root):
    client = Client()
    for _ in range(4):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 302


def test_a_lockout_holds_for_that_name_from_that_address_only(root):
    for _ in range(5):
        log_in(Client(REMOTE_ADDR="10.0.0.9"), "wrong")
    assert log_in(Client(REMOTE_ADDR="10.0.0.9"), PASSWORD).status_code == 429
    assert log_in(Client(REMOTE_ADDR="10.0.0.10"), PASSWORD).status_code == 302


def test_wrong_passwords_at_the_console_lock_the_admin_login_too(root):
    from django.urls import reverse

    client = Client()
    console = reverse("console:login")
    for _ in range(5):
        client.post(console, {"username": "root", "password": "wrong"})
    assert client.post(console, {"username": "root", "password": PASSWORD}).status_code == 429
    assert log_in(client, PASSWORD).status_code == 429
