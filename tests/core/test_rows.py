"""``insert_many`` writes rows as ``save()`` would, however many there are."""

from __future__ import annotations

import pytest

from pems.audit.models import AuditEvent
from pems.core import rows

pytestmark = pytest.mark.django_db


def event(n: int) -> AuditEvent:
    return AuditEvent(
        actor_label="system", action="test.bulk", object_type="t", object_id=str(n), object_repr=""
    )


def test_more_rows_than_one_statement_may_bind_are_all_written():
    # 9 columns a row: 8,000 rows are 72,000 parameters, over PostgreSQL's
    # 65,535 for a server-bound statement and SQLite's 32,766.
    count = 8_000
    assert count * 9 > 65_535
    rows.insert_many([event(n) for n in range(count)])
    written = AuditEvent.objects.filter(action="test.bulk")
    assert written.count() == count
    assert set(written.values_list("object_id", flat=True)) == {str(n) for n in range(count)}


def test_a_few_rows_go_in_one_statement(django_assert_num_queries):
    with django_assert_num_queries(1):
        rows.insert_many([event(n) for n in range(3)])
    assert AuditEvent.objects.filter(action="test.bulk").count() == 3
