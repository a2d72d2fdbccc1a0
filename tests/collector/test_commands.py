"""Commands over real sockets: relay commands confirmed by read-back, credit pushed exactly once."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from pems.control import actions
from pems.control.models import Command, CommandKind, CommandStatus
from pems.metering.models import EventKind, MeterEvent
from pems.sim.meter import RelayMode
from tests.collector.conftest import SimThread, collect, install

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("kind", "mode", "relay_closed"),
    [
        (CommandKind.TRIP, RelayMode.FORCED_TRIP, False),
        (CommandKind.KEEP_POWER_ON, RelayMode.KEEP_POWER, True),
        (CommandKind.CLOSE, RelayMode.PREPAID, True),
    ],
)
def test_relay_commands_are_confirmed_by_reading_the_meter_back(
    plaza_sim: SimThread, kind: str, mode: RelayMode, relay_closed: bool
) -> None:
    points = install(plaza_sim)
    meter = plaza_sim.meter("GW-S2", 3)
    if kind == CommandKind.CLOSE:
        plaza_sim.run(lambda: meter.control(force=True, trip=True))
    command = actions.enqueue(points[("GW-S2", 3)], kind, actor="operator", reason="test")

    collect()

    command.refresh_from_db()
    assert command.status == CommandStatus.CONFIRMED, command.failure_reason
    assert command.attempts == 1
    assert command.answer["relay_closed"] == str(relay_closed)
    assert meter.relay_mode is mode


def test_a_trip_then_close_shows_relay_events(plaza_sim: SimThread) -> None:
    points = install(plaza_sim)
    point = points[("GW-S4", 1)]
    collect()
    actions.enqueue(point, CommandKind.TRIP)
    collect()
    kinds = list(MeterEvent.objects.filter(point=point).values_list("kind", flat=True))
    assert EventKind.RELAY_CHANGED in kinds


def test_a_credit_push_adds_exactly_one_purchase(
    plaza_sim: SimThread, master_key_env: None
) -> None:
    points = install(plaza_sim)
    meter = plaza_sim.meter("GW-S1", 2)
    before = plaza_sim.run(meter.snapshot)
    command = actions.enqueue(points[("GW-S1", 2)], CommandKind.PUSH_CREDIT, {"amount": "100.00"})
    assert command.purchase_count == before.purchase_count + 1

    collect()

    after = plaza_sim.run(meter.snapshot)
    command.refresh_from_db()
    assert command.status == CommandStatus.CONFIRMED
    assert after.purchase_count == before.purchase_count + 1
    assert after.credit == before.credit + Decimal("100.00")
    assert not MeterEvent.objects.filter(kind=EventKind.PURCHASE_MISMATCH).exists()


def test_a_lost_reply_is_settled_by_read_back_not_by_resending(
    plaza_sim: SimThread, master_key_env: None
) -> None:
    points = install(plaza_sim)
    meter = plaza_sim.meter("GW-S5", 9)
    before = plaza_sim.run(meter.snapshot)
    plaza_sim.run(lambda: setattr(meter.faults, "garbled", True))
    actions.enqueue(points[("GW-S5", 9)], CommandKind.PUSH_CREDIT, {"amount": "50.00"})

    # The meter takes the purchase but its reply is garbled; the line recovers later.
    def heal() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if plaza_sim.run(lambda: meter.snapshot().purchase_count) > before.purchase_count:
                plaza_sim.run(lambda: setattr(meter.faults, "garbled", False))
                return
            time.sleep(0.01)

    healer = threading.Thread(target=heal)
    healer.start()
    collect(sweeps=3, command_retry_seconds=0.05, backoff_base=0.01)
    healer.join()
    if Command.objects.get().status != CommandStatus.CONFIRMED:
        collect(sweeps=2, command_retry_seconds=0.05)

    command = Command.objects.get()
    after = plaza_sim.run(meter.snapshot)
    assert after.purchase_count == before.purchase_count + 1
    assert after.credit == before.credit + Decimal("50.00")
    assert command.status == CommandStatus.CONFIRMED
    assert command.attempts == 1  # confirmed by read-back, never resent
    assert command.answer["note"].endswith("by read-back")


def test_enqueue_is_idempotent_on_its_key_and_allocates_counts_in_order(
    plaza_sim: SimThread,
) -> None:
    points = install(plaza_sim)
    point = points[("GW-S1", 1)]
    first = actions.enqueue(
        point, CommandKind.PUSH_CREDIT, {"amount": "10.00"}, idempotency_key="r-1"
    )
    again = actions.enqueue(
        point, CommandKind.PUSH_CREDIT, {"amount": "10.00"}, idempotency_key="r-1"
    )
    second = actions.enqueue(
        point, CommandKind.PUSH_CREDIT, {"amount": "20.00"}, idempotency_key="r-2"
    )
    assert again.pk == first.pk
    assert second.purchase_count == first.purchase_count + 1
    with pytest.raises(actions.IdempotencyConflict):
        actions.enqueue(point, CommandKind.PUSH_CREDIT, {"amount": "99.00"}, idempotency_key="r-1")
    with pytest.raises(ValidationError) as error:
        actions.enqueue(point, CommandKind.PUSH_CREDIT, {"amount": 10.0})
    assert "payload" in error.value.message_dict
    assert Command.objects.count() == 2


def test_a_push_whose_count_the_meter_already_has_fails_for_good(
    plaza_sim: SimThread, master_key_env: None
) -> None:
    points = install(plaza_sim)
    meter = plaza_sim.meter("GW-S3", 3)
    before = plaza_sim.run(meter.snapshot)
    plaza_sim.run(
        lambda: meter.purchase(Decimal("5.00"), before.purchase_count + 1, mac_valid=True)
    )
    command = actions.enqueue(
        points[("GW-S3", 3)],
        CommandKind.PUSH_CREDIT,
        {"amount": "30.00"},
        purchase_count=before.purchase_count + 1,
    )

    collect()

    command.refresh_from_db()
    after = plaza_sim.run(meter.snapshot)
    assert command.status == CommandStatus.FAILED
    assert command.failure_kind == "terminal"
    assert "duplicate" in command.failure_reason
    with translation.override("zh-hans"):  # the room page reads it in the reader's language
        assert command.failure_text.startswith("电表拒绝购电：重复购电，电表购电次数")
    assert after.purchase_count == before.purchase_count + 1
    assert after.credit == before.credit + Decimal("5.00")


def test_a_push_cancelled_after_it_was_fetched_is_never_marked_sent(plaza_sim: SimThread) -> None:
    from pems.collector.commands import fetch_open, mark_sent

    points = install(plaza_sim)
    point = points[("GW-S1", 4)]
    command = actions.enqueue(point, CommandKind.PUSH_CREDIT, {"amount": "10.00"})
    (task,) = fetch_open({point.meter.gateway_id}, busy=set())
    assert actions.cancel(command, actor="cashier", reason="reversed sale")  # the cashier wins

    assert mark_sent(task.pk) is False  # so the runner sends nothing
    command.refresh_from_db()
    assert (command.status, command.attempts) == (CommandStatus.FAILED, 0)
