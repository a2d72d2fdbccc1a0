"""A day's freeze is its first good reading: never one whose total fell below the reading
before it (a misread of zeros, a register wrap, a new meter), so the day's usage on the
dashboard and the room page's chart never starts from it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pems.collector.readings import Reading
from pems.collector.store import Batch, Store
from pems.devices.records import Energy, MeterState
from pems.metering.models import DailyFreeze
from tests.factories import MeteringPointFactory

# The store runs as in the collector (its write checks the connection): real commits.
pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2026, 3, 2, 0, 5, tzinfo=dt.UTC)


def state(total: str) -> MeterState:
    return MeterState(
        model="test", type_code=None, energy_unit="kWh", energy=Energy(Decimal(total)),
        remaining_credit=None, purchase_count=None, relay_closed=True, forced=None,
        alarm1=False, alarm2=False, arrears=False, fault=False, phases=(),
        total_active_power=None, power_factor=None, clock=None,
    )  # fmt: skip


def freezes(point) -> dict[dt.date, Decimal]:
    return dict(DailyFreeze.objects.filter(point=point).values_list("day", "energy_total"))


def test_a_days_first_reading_that_fell_is_passed_over_for_the_next():
    point = MeteringPointFactory()
    store = Store(dt.timedelta(minutes=15), drift_limit=300)
    day = [T0 + dt.timedelta(days=n) for n in range(4)]
    readings = [
        (day[0], "500.00"),  # the first reading ever: the 2nd's freeze
        (day[0] + dt.timedelta(hours=5), "505.00"),
        (day[1], "0.00"),  # a misread of zeros first on the 3rd: not its freeze …
        (day[1] + dt.timedelta(minutes=15), "506.00"),  # … this is
        (day[2], "507.00"),  # a good first reading on the 4th
        (day[2] + dt.timedelta(hours=1), "1.00"),  # the meter exchanged that day
        (day[3], "0.50"),  # below the reading before (a misread on the new meter) …
        (day[3] + dt.timedelta(minutes=15), "2.00"),  # … so the 5th's freeze is this
    ]
    for at, total in readings:
        store.write(Batch([Reading(point.pk, point.meter_id, at, at.date(), state(total))]))
    assert freezes(point) == {
        day[0].date(): Decimal("500.000"),
        day[1].date(): Decimal("506.000"),
        day[2].date(): Decimal("507.000"),
        day[3].date(): Decimal("2.000"),
    }
