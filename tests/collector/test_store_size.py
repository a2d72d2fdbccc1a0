"""The store's look-ups hold for a site far larger than one statement's parameters."""

from __future__ import annotations

import pytest
from django.utils import timezone

from pems.collector.stats import Counters
from pems.collector.store import load_counters
from pems.core.rows import in_lists
from pems.metering.models import GatewayCommStats, MeterCommStats
from tests.factories import MeterFactory

pytestmark = pytest.mark.django_db

#: More ids than PostgreSQL binds in one server-side statement (65,535).
MANY = 70_000


def test_counters_load_for_more_meters_than_one_statement_binds():
    meter = MeterFactory()
    MeterCommStats.objects.create(meter=meter, requests=7, failures=2, updated_at=timezone.now())
    GatewayCommStats.objects.create(gateway=meter.gateway, requests=9, updated_at=timezone.now())
    meter_ids = [meter.pk, *range(10**9, 10**9 + MANY)]  # one stored, the rest never polled
    meters, gateways = load_counters(meter_ids, [meter.gateway_id, *range(10**9, 10**9 + MANY)])
    assert meters == {meter.pk: Counters(requests=7, failures=2)}
    assert gateways[meter.gateway_id].requests == 9
    assert len(gateways) == 1


def test_in_lists_keeps_every_value_once_in_order():
    assert list(in_lists(range(7), size=3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(in_lists([], size=3)) == []
    assert list(in_lists(range(6), size=3)) == [[0, 1, 2], [3, 4, 5]]
