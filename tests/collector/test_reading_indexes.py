"""The reading tables, the biggest, carry no index their unique constraint already covers."""

from __future__ import annotations

import pytest
from django.db import connection

from pems.metering.models import DailyFreeze, IntervalReading

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model", "unique"),
    [(IntervalReading, ["point_id", "interval_start"]), (DailyFreeze, ["point_id", "day"])],
)
def test_a_reading_table_has_no_point_only_index(model, unique):
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    indexed = [c["columns"] for c in found.values() if c["index"] or c["unique"]]
    assert ["point_id"] not in indexed  # written on every reading, used by nothing
    assert unique in indexed  # what lookups by point and the foreign key's checks use
