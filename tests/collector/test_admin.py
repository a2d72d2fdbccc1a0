"""Collected data and commands are visible in the admin, and nobody can edit them there."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from pems.control import actions
from pems.control.models import CommandKind
from tests.factories import MeteringPointFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "metering/pointstate",
    "metering/intervalreading",
    "metering/dailyfreeze",
    "metering/meterevent",
    "metering/metercommstats",
    "metering/gatewaycommstats",
    "control/command",
]


@pytest.fixture
def admin_client(client):
    get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-long-enough")
    client.force_login(get_user_model().objects.get(username="boss"))
    return client


@pytest.mark.parametrize("page", PAGES)
def test_each_collector_page_lists_and_refuses_adding(admin_client, page: str) -> None:
    actions.enqueue(MeteringPointFactory(), CommandKind.TRIP)
    assert admin_client.get(f"/admin/{page}/").status_code == 200
    assert admin_client.get(f"/admin/{page}/add/").status_code == 403
