"""Credit found on a meter, taken over into the ledger: never more than the drift PEMS
found at the last reading it compared, and never before one; refused cleanly otherwise.

Hand-worked go-live: a meter holds 120.00 its tenant bought from the previous
system. Its first reading shows 120.00 against the 0.00 PEMS sent: 120.00 of
drift. Taken over, the ledger holds 120.00 of meter credit against the site's
taken-over account (-120.00). The meter then reports 100.00: 20.00 was used,
booked as revenue, and nothing is drift.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from pems.accounts import actions as ledger_actions
from pems.accounts.actions import AccountActionError
from pems.billing import mirror, recall
from pems.billing.takeover import TakeoverRefused, take_over_meter_credit
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from pems.metering.models import EventKind, MeterEvent
from tests.billing.scenarios import T0, relay_reading, server_side_tenant
from tests.billing.test_mirror import LATER, bought, revenue
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db


def meter_side_tenant():
    return server_side_tenant("1.00", fee_control="meter-side")


def test_credit_taken_over_at_go_live_is_spent_as_revenue_and_is_not_drift():
    account, point = meter_side_tenant()
    with pytest.raises(TakeoverRefused, match="has not compared a reading of meter"):
        take_over_meter_credit(account, point, cny("120.00"), "manager", "go-live", "g0")
    relay_reading(point, True, T0, credit="120.00")  # the collector's first reading
    assert mirror.reconcile_point(account, point).drift == Decimal("120.00")
    for _ in range(2):  # the same key books once
        take_over_meter_credit(account, point, cny("120.00"), "manager", "go-live", "g1")

    assert JournalEntry.objects.filter(kind="meter-takeover").count() == 1
    assert chart.meter_credit(account, point).balance == Decimal("120.00")
    assert chart.taken_over(account.tenant.site).balance == Decimal("-120.00")
    relay_reading(point, True, T0 + LATER, credit="100.00")
    seen = mirror.reconcile_point(account, point)
    assert seen is not None
    assert (seen.usage_booked, seen.drift, seen.drift_flagged) == (Decimal("20.00"), 0, False)
    assert revenue(account) == Decimal("20.00")
    assert MeterEvent.objects.filter(kind=EventKind.CREDIT_DRIFT).count() == 1  # go-live's
    assert ledger_problems() == []


def test_flagged_drift_is_taken_over_up_to_what_was_found_and_a_recall_returns_it():
    account, point = bought()  # PEMS sent 100.00
    relay_reading(point, True, T0 + LATER, credit="130.00")
    assert mirror.reconcile_point(account, point).drift == Decimal("30.00")

    with pytest.raises(TakeoverRefused, match=r"holds only 30\.00 more than PEMS sent"):
        take_over_meter_credit(account, point, cny("30.01"), "manager", "old system", "t1")
    take_over_meter_credit(account, point, cny("30.00"), "manager", "old system", "t2")

    held = account.credit_mirrors.get()
    assert (held.expected, held.drift) == (Decimal("130.00"), Decimal("0.00"))
    relay_reading(point, True, T0 + 2 * LATER, credit="125.00")
    later = mirror.reconcile_point(account, point)
    assert (later.usage_booked, later.drift, later.drift_flagged) == (Decimal("5.00"), 0, False)
    # Moving out: the meter's 125.00, taken-over credit included, goes back to the wallet.
    clear = recall.recall_meter_credit(account, point, "manager", "moving out", "r1")
    with transaction.atomic():
        outcome = recall.credit_cleared(recall.lock_recalling(clear), clear, Decimal("125.00"))
    assert outcome[recall.RETURNED] == "125.00"
    assert ledger_actions.balance(account) == cny("125.00")
    assert ledger_problems() == []


@pytest.mark.parametrize(
    ("amount", "reason", "error", "message"),
    [
        (cny("0.00"), "go-live", AccountActionError, "must be positive"),
        (cny("10.00"), "  ", TakeoverRefused, "needs a reason"),
    ],
)
def test_a_refused_takeover_changes_nothing(amount, reason, error, message):
    account, point = meter_side_tenant()
    with pytest.raises(error, match=message):
        take_over_meter_credit(account, point, amount, "manager", reason, "k")
    assert not JournalEntry.objects.filter(kind="meter-takeover").exists()


def test_only_a_meter_side_point_of_the_account_takes_credit_over():
    account, point = server_side_tenant()
    with pytest.raises(TakeoverRefused, match="is not a meter-side point of account"):
        take_over_meter_credit(account, point, cny("10.00"), "manager", "go-live", "k")
    other, _ = meter_side_tenant()
    with pytest.raises(TakeoverRefused, match="is not a meter-side point of account"):
        take_over_meter_credit(other, point, cny("10.00"), "manager", "go-live", "k")
    assert not JournalEntry.objects.filter(kind="meter-takeover").exists()
