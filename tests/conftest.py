"""Shared fixtures: factories are in tests/factories.py; scenarios are named for what they build."""

from __future__ import annotations

import pytest
from django.utils import translation

from tests import factories


@pytest.fixture(autouse=True)
def english():
    """Tests read messages in English; the zh-Hans tests switch language explicitly."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def plain_static_storage(settings):
    """Pages render without a collectstatic manifest (the CLI tests cover the manifest)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Argon2 is slow on purpose; tests that are not about hashing (test_login) use a fast one."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def site(db):
    return factories.SiteFactory()


@pytest.fixture
def rtu_gateway(site):
    return factories.GatewayFactory(site=site)


@pytest.fixture
def dlt645_gateway(site):
    return factories.GatewayFactory(site=site, protocol="dlt645-over-tcp", baud=2400, parity="E")
