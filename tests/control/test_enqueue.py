"""Queuing a command in hand-written SQL writes what the ORM would, counts purchases by the
rule, answers a replayed key with the first command, and refuses bad input with a clear error."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pems.audit.models import AuditEvent
from pems.control import actions
from pems.control.models import Command, CommandKind, CommandStatus
from pems.inventory.models import MeteringPoint
from pems.metering.models import PointState
from tests.factories import MeteringPointFactory, staff_user
from tests.threads import run_together

#: Columns that differ between any two rows: the id, a fresh UUID, the insert time.
_OWN = {"id", "command_id", "created_at"}


def orm_enqueue(point, kind, payload, **fields):
    """What ``enqueue`` wrote through the ORM before it wrote SQL: the reference row."""
    locked = MeteringPoint.objects.select_for_update().select_related("meter").get(pk=point.pk)
    command = Command(point=locked, meter=locked.meter, kind=kind, payload=payload, **fields)
    command.full_clean()
    command.save()
    return command


def stored(command):
    """The command's row as read back from the database, less the columns every row has its own."""
    row = Command.objects.filter(pk=command.pk).values().get()
    return {name: value for name, value in row.items() if name not in _OWN}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "payload", "extra"),
    [
        (CommandKind.PUSH_CREDIT, {"amount": "98.00"}, {}),
        (CommandKind.TRIP, {}, {"by_policy": True}),
        (CommandKind.SET_PRICES, {"sharp": "1.2", "peak": "1", "flat": "0.7", "valley": "0.3"}, {}),
        (CommandKind.TIME_SYNC, {}, {"not_before": dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.UTC)}),
    ],
)
def test_the_row_enqueue_writes_is_the_row_the_orm_writes_field_by_field(kind, payload, extra):
    sql_point, orm_point = MeteringPointFactory(), MeteringPointFactory()
    cashier = staff_user("cashier", sql_point.meter.gateway.site)
    PointState.objects.create(point=sql_point, purchase_count=6)
    PointState.objects.create(point=orm_point, purchase_count=6)
    written = actions.enqueue(
        sql_point, kind, payload, idempotency_key="k-sql", actor=cashier, reason="r", **extra
    )
    count = actions.next_purchase_count(orm_point) if kind == CommandKind.PUSH_CREDIT else None
    reference = orm_enqueue(
        orm_point,
        kind,
        payload,
        purchase_count=count,
        idempotency_key="k-orm",
        requested_by=str(cashier),
        **extra,
    )
    mine, theirs = stored(written), stored(reference)
    assert mine.pop("point_id") == sql_point.pk
    assert mine.pop("meter_id") == sql_point.meter_id
    assert theirs.pop("point_id") == orm_point.pk
    assert theirs.pop("meter_id") == orm_point.meter_id
    assert mine.pop("idempotency_key") == "k-sql"
    assert theirs.pop("idempotency_key") == "k-orm"
    assert mine == theirs
    # The instance returned says what the row holds.
    assert (written.purchase_count, written.payload, written.status) == (
        mine["purchase_count"],
        payload,
        CommandStatus.PENDING,
    )
    assert written.created_at is not None
    assert Command.objects.get(pk=written.pk).command_id == written.command_id


def push(point, count=None, status=CommandStatus.PENDING, kind=CommandKind.PUSH_CREDIT):
    payload = {"amount": "1.00"} if kind == CommandKind.PUSH_CREDIT else {}
    return Command.objects.create(
        point=point,
        meter=point.meter,
        kind=kind,
        payload=payload,
        purchase_count=count,
        status=status,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("meter_read", "pushes", "expected"),
    [
        (None, [], 1),  # a meter never read, never pushed to
        (7, [], 8),  # the meter's own count
        (None, [(3, CommandStatus.CONFIRMED), (5, CommandStatus.SENT)], 6),
        (9, [(4, CommandStatus.CONFIRMED)], 10),  # the meter knows more than the queue
        (2, [(4, CommandStatus.PENDING), (6, CommandStatus.FAILED)], 5),  # failed frees its count
        (None, [(3, CommandStatus.FAILED)], 1),
    ],
)
def test_the_count_the_insert_works_out_follows_the_rule(meter_read, pushes, expected):
    point, neighbour = MeteringPointFactory(), MeteringPointFactory()
    if meter_read is not None:
        PointState.objects.create(point=point, purchase_count=meter_read)
    for count, status in pushes:
        push(point, count, status)
    push(neighbour, 40)  # another point's pushes do not count
    push(point, kind=CommandKind.TRIP)  # nor do other kinds
    assert actions.next_purchase_count(point) == expected
    command = actions.enqueue(point, CommandKind.PUSH_CREDIT, {"amount": "5.00"})
    assert command.purchase_count == expected
    assert Command.objects.get(pk=command.pk).purchase_count == expected


@pytest.mark.django_db
def test_a_given_count_is_kept_and_other_kinds_carry_none():
    point = MeteringPointFactory()
    given = actions.enqueue(point, CommandKind.PUSH_CREDIT, {"amount": "5.00"}, purchase_count=31)
    trip = actions.enqueue(point, CommandKind.TRIP, purchase_count=99)
    assert Command.objects.get(pk=given.pk).purchase_count == 31
    assert Command.objects.get(pk=trip.pk).purchase_count is None


def writes():
    return Command.objects.count(), AuditEvent.objects.count()


@pytest.mark.django_db
def test_a_replayed_key_returns_the_first_command_and_writes_nothing():
    point = MeteringPointFactory()
    first = actions.enqueue(
        point, CommandKind.PUSH_CREDIT, {"amount": "5.00"}, idempotency_key="s1"
    )
    before = writes()
    with CaptureQueriesContext(connection) as queries:
        again = actions.enqueue(
            point, CommandKind.PUSH_CREDIT, {"amount": "5.00"}, idempotency_key="s1"
        )
    assert (again.pk, again.command_id, again.purchase_count) == (
        first.pk,
        first.command_id,
        first.purchase_count,
    )
    assert writes() == before
    assert not [q["sql"] for q in queries.captured_queries if "audit_auditevent" in q["sql"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"payload": {"amount": "6.00"}},
        {"kind": CommandKind.SET_ALARMS, "payload": {"alarm1": "20", "alarm2": "10"}},
        {"point": "other"},
    ],
)
def test_a_key_naming_another_command_is_refused_and_nothing_is_written(change):
    point = MeteringPointFactory()
    actions.enqueue(point, CommandKind.PUSH_CREDIT, {"amount": "5.00"}, idempotency_key="s1")
    before = writes()
    target = MeteringPointFactory() if change.get("point") == "other" else point
    with pytest.raises(actions.IdempotencyConflict, match="'s1' already names command"):
        actions.enqueue(
            target,
            change.get("kind", CommandKind.PUSH_CREDIT),
            change.get("payload", {"amount": "5.00"}),
            idempotency_key="s1",
        )
    assert writes() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "payload", "extra", "field", "says"),
    [
        (CommandKind.PUSH_CREDIT, {"amount": 10.0}, {}, "payload", "decimal amount as a string"),
        (CommandKind.PUSH_CREDIT, {"amount": "0"}, {}, "payload", "must be a positive amount"),
        (CommandKind.PUSH_CREDIT, {}, {}, "payload", "amount: a decimal amount"),
        (CommandKind.CLEAR_CREDIT, {"account": "7"}, {}, "payload", "an id"),
        ("explode", {}, {}, "kind", "unknown command kind"),
        (CommandKind.TRIP, {}, {"idempotency_key": "k" * 101}, "idempotency_key", "at most 100"),
        (CommandKind.TRIP, {"note": {1, 2}}, {}, "payload", "valid JSON"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_is_written(
    kind, payload, extra, field, says
):
    point = MeteringPointFactory()
    with pytest.raises(ValidationError) as refused:
        actions.enqueue(point, kind, payload, **extra)
    assert says in " ".join(refused.value.message_dict[field])
    assert writes() == (0, 0)


@pytest.mark.django_db
def test_enqueue_in_transaction_needs_the_callers_transaction():
    point = MeteringPointFactory()
    with transaction.atomic():
        command = actions.enqueue_in_transaction(point, CommandKind.TRIP)
    assert Command.objects.filter(pk=command.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_enqueue_in_transaction_refuses_to_run_in_autocommit():
    point = MeteringPointFactory()
    with pytest.raises(transaction.TransactionManagementError):
        actions.enqueue_in_transaction(point, CommandKind.TRIP)
    assert not Command.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_pushes_racing_for_one_meter_get_counts_one_to_n_without_a_gap():
    """No account lock here: only the point's row lock keeps the counts apart."""
    point = MeteringPointFactory()
    started = timezone.now()
    jobs = [
        lambda n=n: actions.enqueue(
            point, CommandKind.PUSH_CREDIT, {"amount": f"{n + 1}.00"}, idempotency_key=f"r{n}"
        )
        for n in range(12)
    ]
    commands = run_together(jobs)
    assert sorted(c.purchase_count for c in commands) == list(range(1, 13))
    stored_counts = Command.objects.filter(point=point).values_list("purchase_count", flat=True)
    assert sorted(stored_counts) == list(range(1, 13))
    assert all(c.created_at >= started for c in commands)
