"""``update_many`` writes what ``save()`` would, row by row, in one statement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pems.billing.models import SettlementCursor
from pems.billing.settlement import CURSOR_FIELDS
from pems.core.bulk import update_many
from tests.billing.scenarios import T0, server_side_tenant

pytestmark = pytest.mark.django_db


def cursor_of(account, point, **values):
    return SettlementCursor.objects.create(
        account=account, point=point, settled_until=T0, last_total=Decimal("1.000"), **values
    )


def test_each_row_gets_its_own_values_nulls_included():
    first = cursor_of(*server_side_tenant(), cycle_start=dt.date(2026, 1, 1))
    second = cursor_of(*server_side_tenant(), last_peak=Decimal("2.000"))
    untouched = cursor_of(*server_side_tenant())
    first.settled_until, first.last_total = T0 + dt.timedelta(hours=1), Decimal("12.345")
    first.last_peak, first.cycle_start, first.cycle_used = Decimal("0.500"), None, Decimal(0)
    second.settled_until, second.last_total = T0 + dt.timedelta(minutes=15), Decimal("7.000")
    second.last_peak, second.cycle_start = None, dt.date(2026, 2, 1)
    second.cycle_used, second.residue = Decimal("3.250001"), Decimal("0.004999999999")

    update_many([first, second], CURSOR_FIELDS)

    for expected in [first, second, untouched]:
        stored = SettlementCursor.objects.get(pk=expected.pk)
        assert [getattr(stored, name) for name in CURSOR_FIELDS] == [
            getattr(expected, name) for name in CURSOR_FIELDS
        ]
    assert SettlementCursor.objects.get(pk=untouched.pk).last_total == Decimal("1.000")
