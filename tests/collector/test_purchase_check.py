"""A purchase-count mismatch is judged against the pushes to the meter that answered."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pems.collector.readings import Reading
from pems.collector.store import Batch, Store
from pems.control.models import Command
from pems.devices.records import Energy, MeterState
from pems.metering.models import EventKind, MeterEvent, PointState
from tests.billing.scenarios import (
    T0,
    confirmed_sales,
    relay_reading,
    server_side_tenant,
    swap_meter_side,
)

# The store runs as in the collector (its write checks the connection): real commits.
pytestmark = pytest.mark.django_db(transaction=True)


def state(count: int) -> MeterState:
    return MeterState(
        model="test", type_code=None, energy_unit="kWh", energy=Energy(Decimal("1.000")),
        remaining_credit=Decimal("25.00"), purchase_count=count, relay_closed=True,
        forced=None, alarm1=False, alarm2=False, arrears=False, fault=False, phases=(),
        total_active_power=None, power_factor=None, clock=None,
    )  # fmt: skip


def test_a_replacement_meter_taking_its_first_push_raises_no_mismatch():
    account, point = server_side_tenant("1.00", fee_control="meter-side")
    confirmed_sales(account, 3)  # the old meter took purchases 1–3
    relay_reading(point, True, T0, credit="30.00")
    PointState.objects.filter(point=point).update(purchase_count=3)
    done = swap_meter_side(point, "555000000005", remaining="25.00")
    Command.objects.filter(pk=done.push.pk).update(status="confirmed", completed_at=T0)
    at = T0 + dt.timedelta(hours=2)
    store = Store(dt.timedelta(minutes=15), drift_limit=300)

    store.write(Batch([Reading(point.pk, done.new_meter.pk, at, at.date(), state(1))]))
    assert not MeterEvent.objects.filter(kind=EventKind.PURCHASE_MISMATCH).exists()

    # A purchase this meter took that PEMS never sent is still caught.
    later = at + dt.timedelta(minutes=15)
    store.write(Batch([Reading(point.pk, done.new_meter.pk, later, later.date(), state(2))]))
    event = MeterEvent.objects.get(kind=EventKind.PURCHASE_MISMATCH)
    assert (event.before, event.after) == ({"expected": "1"}, {"meter": "2"})
