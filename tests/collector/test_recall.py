"""A tenant moves out of a meter-side room, over real sockets against the simulator:
sell → the meter spends → recall (trip, read, clear) → the ledger books what was spent and
returns what was left → close refunds exactly that."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from pems.accounts import actions as ledger_actions
from pems.accounts.actions import balance
from pems.billing import actions as billing
from pems.billing import recall
from pems.collector.commands import hold_credit_before_clear, mark_sent
from pems.control import actions as control
from pems.control.models import CREDIT_BEFORE_CLEAR, Command, CommandKind, CommandStatus
from pems.domain.money import Money
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from tests.collector.conftest import SimThread, collect, install
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run_commands() -> None:
    """A few sweeps: a trip, then the clear behind it, each confirmed by read-back."""
    collect(sweeps=3, timeout=0.5, min_period=0.2, command_poll_seconds=0.05)


def cny(amount: str) -> Money:
    return Money.of(amount, "CNY")


def tenant_with_credit(sim: SimThread, gateway: str, address: int, amount: str):
    """A meter-side account whose meter starts empty and takes one sale of ``amount``."""
    point = install(sim, name="Mixed")[(gateway, address)]
    meter = sim.meter(gateway, address)
    sim.run(lambda: meter.set_credit(Decimal("0.00")))
    site = point.meter.gateway.site
    account = ledger_actions.open_account(TenantFactory(site=site), [point], actor="setup")
    _, push = billing.sell(account, cny(amount), "cash", "cashier", "sale-1")
    run_commands()
    push.refresh_from_db()
    assert push.status == CommandStatus.CONFIRMED, push.failure_reason
    assert sim.run(meter.snapshot).credit == Decimal(amount)
    return account, point, meter


def every_entry_balances() -> None:
    assert ledger_problems() == []
    for entry in JournalEntry.objects.all():
        assert entry.postings.aggregate(total=Sum("amount"))["total"] == 0, entry


@pytest.mark.parametrize(
    ("gateway", "address"),
    [("GW-A", 2), ("GW-D", 123456781012)],
    ids=["modbus-rtu-ddsy", "dlt645"],
)
def test_a_tenant_moves_out_with_exactly_what_the_meter_had_left(
    mixed_sim: SimThread, master_key_env: None, gateway: str, address: int
) -> None:
    account, point, meter = tenant_with_credit(mixed_sim, gateway, address, "100.00")
    mixed_sim.run(lambda: mixed_sim.clock.advance(dt.timedelta(hours=12)))  # the shop uses power
    left = mixed_sim.run(meter.snapshot).credit
    assert Decimal("0") < left < Decimal("100.00")

    cleared = recall.recall_meter_credit(account, point, "cashier", "moving out", "r1")
    run_commands()

    cleared.refresh_from_db()
    trip = Command.objects.get(point=point, kind=CommandKind.TRIP)
    assert (trip.status, cleared.status) == (CommandStatus.CONFIRMED, CommandStatus.CONFIRMED), (
        trip.failure_reason,
        cleared.failure_reason,
    )
    assert trip.pk < cleared.pk  # tripped first: the meter could not spend after the read
    assert cleared.answer[CREDIT_BEFORE_CLEAR] == str(left)  # a decimal string, never a float
    after = mixed_sim.run(meter.snapshot)
    assert (after.credit, after.relay_closed) == (Decimal("0.00"), False)

    site = point.meter.gateway.site
    assert chart.revenue(site, "electricity").balance == Decimal("100.00") - left
    assert chart.meter_credit(account, point).balance == Decimal("0.00")
    assert balance(account) == cny(str(left))
    closing = ledger_actions.close_account(account, "manager", "moving out")
    assert closing.refunded == cny(str(left))
    assert balance(account) == cny("0.00")
    every_entry_balances()


def test_a_meter_holding_more_than_pems_sent_gives_back_only_what_was_sent(
    mixed_sim: SimThread, master_key_env: None
) -> None:
    account, point, meter = tenant_with_credit(mixed_sim, "GW-A", 3, "100.00")
    mixed_sim.run(lambda: meter.set_credit(Decimal("115.00")))  # a top-up PEMS never sold

    cleared = recall.recall_meter_credit(account, point, "cashier", "moving out")
    run_commands()

    cleared.refresh_from_db()
    assert cleared.status == CommandStatus.CONFIRMED, cleared.failure_reason
    assert cleared.answer[CREDIT_BEFORE_CLEAR] == "115.00"
    assert (cleared.answer["credit_returned"], cleared.answer["drift"]) == ("100.00", "15.00")
    assert mixed_sim.run(meter.snapshot).credit == Decimal("0.00")
    assert balance(account) == cny("100.00")
    assert chart.revenue(point.meter.gateway.site, "electricity").balance == Decimal("0.00")
    every_entry_balances()


def test_a_clear_is_never_sent_to_a_meter_that_could_still_spend(
    mixed_sim: SimThread, master_key_env: None
) -> None:
    account, point, meter = tenant_with_credit(mixed_sim, "GW-A", 4, "50.00")
    clear = control.enqueue(point, CommandKind.CLEAR_CREDIT, {"account": account.pk})  # no trip
    entries = JournalEntry.objects.count()

    run_commands()

    clear.refresh_from_db()
    assert (clear.status, clear.failure_kind) == (CommandStatus.FAILED, "terminal")
    assert "relay not open" in clear.failure_reason
    assert mixed_sim.run(meter.snapshot).credit == Decimal("50.00")
    assert JournalEntry.objects.count() == entries
    assert recall.latest_recall(point, account).state == "failed"


def test_a_clear_whose_reply_was_lost_is_settled_by_read_back_with_the_credit_read_before(
    mixed_sim: SimThread, master_key_env: None
) -> None:
    account, point, meter = tenant_with_credit(mixed_sim, "GW-A", 5, "100.00")
    cleared = recall.recall_meter_credit(account, point, "cashier", "moving out")
    # The collector read 40.00, committed it, sent the clear and then died before the reply.
    mixed_sim.run(lambda: meter.set_credit(Decimal("40.00")))
    assert mark_sent(cleared.pk)
    hold_credit_before_clear(cleared.pk, Decimal("40.00"))
    mixed_sim.run(meter.clear_credit)

    run_commands()

    cleared.refresh_from_db()
    assert cleared.status == CommandStatus.CONFIRMED, cleared.failure_reason
    assert cleared.attempts == 1  # confirmed by read-back, never sent again
    assert cleared.answer[CREDIT_BEFORE_CLEAR] == "40.00"
    assert balance(account) == cny("40.00")
    assert chart.revenue(point.meter.gateway.site, "electricity").balance == Decimal("60.00")
    every_entry_balances()
