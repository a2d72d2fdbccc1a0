"""Cashiers selling at once on one site end with exact balances and no deadlock.

Every sale of a site shares its clearing and fee accounts; they are locked
last, in key order. Real threads, each with its own connection and committed
transactions (PostgreSQL row locks; SQLite IMMEDIATE transactions).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pems.accounts import actions as ledger_actions
from pems.audit.models import AuditEvent
from pems.billing import actions
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.control.models import Command, CommandKind
from pems.ledger import chart
from pems.ledger.verify import ledger_problems
from tests.billing.scenarios import flat_tariff_document
from tests.factories import MeteringPointFactory, SiteFactory, TenantFactory, staff_user
from tests.ledger.scenarios import cny
from tests.threads import run_together

pytestmark = pytest.mark.django_db(transaction=True)


def site_with_accounts(count, fee_control="server-side"):
    """``count`` accounts on one site, priced with a 10 % service fee."""
    site = SiteFactory()
    document = flat_tariff_document(effective_from="2025-01-01", extra="service_fee_ratio = 0.1")
    tariff = create_tariff(site, "Flat with fee", document, actor="test")
    accounts = []
    for _ in range(count):
        point = MeteringPointFactory(meter__gateway__site=site, fee_control=fee_control)
        account = ledger_actions.open_account(TenantFactory(site=site), [point], actor="test")
        assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="test")
        accounts.append(account)
    return site, accounts


@pytest.mark.parametrize("fee_control", ["server-side", "meter-side"])
def test_twenty_cashier_sales_at_once_on_one_site_end_exact(fee_control):
    """Meter-side, each sale also moves its credit to the meter and queues a push."""
    site, accounts = site_with_accounts(5, fee_control)
    cashier = staff_user("cashier", site)
    jobs = [
        lambda n=n: actions.sell(
            accounts[n % 5], cny(f"{n + 1}0.00"), ("cash", "wechat")[n % 2], cashier, f"s{n}"
        )
        for n in range(20)
    ]
    sales = [sale for sale, _ in run_together(jobs)]
    assert all(sale.created for sale in sales)
    paid = {"cash": Decimal(0), "wechat": Decimal(0)}
    for n in range(20):
        paid[("cash", "wechat")[n % 2]] += Decimal(f"{n + 1}0.00")
    assert chart.clearing(site, "cash").balance == -paid["cash"]
    assert chart.clearing(site, "wechat").balance == -paid["wechat"]
    assert chart.service_fees(site).balance == sum(paid.values()) / 10
    for k, account in enumerate(accounts):
        credited = sum(Decimal(f"{n + 1}0.00") for n in range(k, 20, 5)) * Decimal("0.9")
        point = account.metering_points.get()
        if fee_control == "server-side":
            assert ledger_actions.balance(account) == cny(str(credited))
            continue
        assert ledger_actions.balance(account) == cny("0.00")
        assert chart.meter_credit(account, point).balance == credited
        pushes = Command.objects.filter(point=point, kind=CommandKind.PUSH_CREDIT)
        assert sorted(pushes.values_list("purchase_count", flat=True)) == [1, 2, 3, 4]
    assert AuditEvent.objects.filter(action="ledger.recharge", actor=cashier).count() == 20
    assert ledger_problems() == []


def test_the_same_sale_sent_ten_times_at_once_is_sold_once():
    site, (account,) = site_with_accounts(1)
    cashier = staff_user("cashier", site)
    results = run_together(
        [lambda: actions.sell(account, cny("50.00"), "cash", cashier, "dup")] * 10
    )
    assert sum(sale.created for sale, _ in results) == 1
    assert len({sale.entry.pk for sale, _ in results}) == 1
    assert ledger_actions.balance(account) == cny("45.00")
    assert ledger_problems() == []


def test_settlement_runs_racing_sales_charge_each_kwh_once():
    """Three settlement runs (each prefetching, as two `pems settle` loops by mistake
    would) race eight sales on the same accounts: every kWh is charged once, every
    sale credited once, and the ledger still proves."""
    from pems.billing.jobs import settle_due
    from pems.billing.models import SettlementCursor
    from pems.metering.models import IntervalReading, PointState
    from tests.billing.scenarios import T0

    _, accounts = site_with_accounts(2)
    for account in accounts:
        point = account.metering_points.get()
        account.links.update(attached_at=T0 - dt.timedelta(days=1))
        for i in range(97):  # a day of 15-minute readings, 0.500 kWh each
            at = T0 + dt.timedelta(minutes=15 * i)
            IntervalReading.objects.create(
                point=point, interval_start=at, read_at=at, energy_total=Decimal("0.500") * i
            )
        PointState.objects.create(point=point, read_at=at, energy_total=Decimal("48.000"))
    settle_due()  # the baseline cursors
    jobs = [settle_due] * 3
    for n in range(8):
        account = accounts[n % 2]
        jobs.append(lambda a=account, n=n: actions.sell(a, cny("10.00"), "cash", "c", f"s{n}"))
    run_together(jobs)
    for account in accounts:
        # 4 sales of 10.00 with a 10 % fee credit 36.00; 48 kWh at 1.00 are charged once.
        assert ledger_actions.balance(account) == cny("-12.00")
        cursor = SettlementCursor.objects.get(account=account)
        assert cursor.last_total == Decimal("48.000")
    assert ledger_problems() == []
