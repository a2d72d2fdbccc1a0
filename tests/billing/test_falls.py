"""Settlement through a falling total: a misread passed over, a register wrap charged once, a
reset refused with what to do — reading by reading and through the settle job's prefetch
(PostgreSQL's priced query, SQLite's cells), which hand such points to the former.

Worked example of the wrap: a DL/T 645 meter (register range 1,000,000.00 kWh)
reads 999,990 kWh at T0 and uses 2 kWh every quarter hour: 999,998 at 60 min.
At 75 min it reads 0.5: 2.5 kWh across the wrap, 10 kWh/h, under 3 × its
8 kWh/h of before. That reading waits six hours for the meter to come back
(a misread); at 480 min it reads 30.5, so the fall lasted and is a wrap:
999,998 → 1,000,030.5 is 32.5 kWh, 40.5 kWh since T0 at 1.00 a kWh.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from pems.accounts.actions import balance
from pems.billing.falls import fastest_use
from pems.billing.jobs import settle_due, why_stuck
from pems.billing.models import SettlementCursor
from pems.billing.settlement import SettlementBlocked, settle_account, settle_point
from pems.domain.quantities import Unit
from pems.inventory.models import Meter
from pems.ledger.verify import ledger_problems
from pems.metering.models import PointState
from tests.billing.scenarios import T0, reading, server_side_tenant
from tests.factories import MeteringPointFactory, catalogue_model
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db


def dlt645_tenant():
    account, point = server_side_tenant("1.00")
    Meter.objects.filter(pk=point.meter_id).update(model=catalogue_model("DLT645-GENERIC"))
    return account, point


def read(point, minutes, total):
    """An interval reading and the point's latest state, as a sweep stores them."""
    reading(point, minutes, total)
    PointState.objects.update_or_create(
        point=point,
        defaults={"read_at": T0 + dt.timedelta(minutes=minutes), "energy_total": Decimal(total)},
    )


def settle_by_point(account, point):
    settle_point(account, point)


def settle_by_job(_account, _point):
    settle_due()


@pytest.fixture(params=[settle_by_point, settle_by_job])
def settle(request):
    return request.param


def test_a_zero_answered_between_good_readings_is_passed_over_and_nothing_is_lost(settle, caplog):
    account, point = server_side_tenant("1.00")
    read(point, 0, "100.000")
    settle(account, point)  # the baseline
    read(point, 15, "101.000")
    read(point, 30, "0.000")  # a meter answering zeros as it powers up
    read(point, 45, "103.500")
    settle(account, point)
    assert balance(account) == cny("-3.50")
    cursor = SettlementCursor.objects.get(point=point)
    assert (cursor.last_total, cursor.settled_until) == (
        Decimal("103.500"),
        T0 + dt.timedelta(minutes=45),
    )
    settle(account, point)
    assert balance(account) == cny("-3.50")  # nothing twice
    [logged] = [r for r in caplog.records if "misreads" in r.getMessage()]
    assert (logged.point, logged.readings) == (point.pk, 1)
    assert ledger_problems() == []


def test_the_worked_register_wrap_is_charged_once(settle, caplog):
    account, point = dlt645_tenant()
    for quarter in range(5):  # 999,990 … 999,998 kWh, 2 kWh a quarter hour
        read(point, 15 * quarter, f"{999_990 + 2 * quarter}.000")
    settle(account, point)  # the baseline
    settle(account, point)
    assert balance(account) == cny("-8.00")
    read(point, 75, "0.500")
    if settle is settle_by_point:  # younger than six hours: it waits (the job logs why)
        with pytest.raises(SettlementBlocked, match=r"waiting until 2026-03-02T07:15:00\+00:00"):
            settle(account, point)
    else:
        settle(account, point)
    assert balance(account) == cny("-8.00")
    read(point, 480, "30.500")
    settle(account, point)
    assert balance(account) == cny("-40.50")
    assert [r.point for r in caplog.records if "register wrapped" in r.getMessage()] == [point.pk]
    cursor = SettlementCursor.objects.get(point=point)
    assert cursor.last_total == Decimal("30.500")  # the meter's own total
    read(point, 495, "31.500")
    settle(account, point)
    assert balance(account) == cny("-41.50")
    assert ledger_problems() == []


def test_a_reset_near_the_top_of_the_register_is_refused_with_what_to_do():
    account, point = dlt645_tenant()
    read(point, 0, "950000.000")
    settle_point(account, point)
    read(point, 15, "950002.000")
    read(point, 30, "0.400")  # 49,998.4 kWh in a quarter hour if it were a wrap
    read(point, 420, "1.000")
    settle_point(account, point)
    assert balance(account) == cny("-2.00")
    with pytest.raises(SettlementBlocked, match="stayed down") as refused:
        settle_point(account, point)
    assert "a wrap would mean 49998.400 kWh in 0.25 h" in str(refused.value)
    assert str(refused.value).endswith("record the meter replacement")
    settle_due()  # the job logs it and goes on
    assert balance(account) == cny("-2.00")

    _, other = server_side_tenant("1.00", site=account.tenant.site)  # keeps up
    read(other, 0, "7.000")
    settle_due()
    out = StringIO()
    call_command("status", stdout=out)
    assert (
        "Server-side settlement: 2 points, 1 more than 1 h behind their latest reading; the "
        f"furthest: point {point.pk} (meter {point.meter.number}) settled up to "
        "2026-03-02T00:15:00+00:00, pems settle logs why"
    ) in out.getvalue()


def test_a_fall_in_the_middle_of_a_modbus_register_waits_then_stops_there():
    account, point = server_side_tenant("1.00")
    read(point, 0, "500.000")
    settle_point(account, point)
    read(point, 15, "502.000")
    read(point, 30, "0.500")  # replaced meter
    read(point, 45, "1.500")
    assert settle_point(account, point).amount == cny("2.00")
    with pytest.raises(SettlementBlocked, match="waiting until 2026-"):
        settle_point(account, point)
    cursor = SettlementCursor.objects.select_related("account", "point").get(point=point)
    assert why_stuck(cursor).reason == "waiting"  # what the dashboard says
    read(point, 30 + 6 * 60, "9.000")
    with pytest.raises(SettlementBlocked, match=r"stayed down \(not from near the top"):
        settle_point(account, point)
    assert balance(account) == cny("-2.00")
    assert why_stuck(cursor).reason == "fall"
    # Had the meter kept counting, with no tariff in force: that is what stops it.
    cursor.point.interval_readings.all().delete()
    PointState.objects.filter(point=point).update(energy_total=Decimal("600.000"))
    cursor.account.tariffs.all().delete()
    assert why_stuck(cursor).reason == "no-tariff"


def test_a_point_stuck_at_a_fall_does_not_stop_its_accounts_other_point(caplog):
    account, stuck = server_side_tenant("1.00")
    other = MeteringPointFactory(meter__gateway__site=account.tenant.site)
    account.links.create(metering_point=other, attached_at=T0 - dt.timedelta(days=1))
    for point in (stuck, other):
        read(point, 0, "500.000")
    settle_due()  # the baselines
    read(stuck, 15, "0.500")  # replaced, not recorded
    read(other, 15, "501.000")
    read(stuck, 400, "1.000")
    read(other, 400, "503.000")
    # Point by point (what the job does with the points its prefetch could not price):
    # the stuck point comes first and the other is still charged its 3 kWh.
    name = f"point {stuck.pk} \\(meter {stuck.meter.number}\\): total went backwards"
    with pytest.raises(SettlementBlocked, match=name):
        settle_account(account)
    assert balance(account) == cny("-3.00")
    read(other, 415, "504.000")
    settle_due()
    assert balance(account) == cny("-4.00")
    [warning] = [r for r in caplog.records if r.getMessage() == "settlement blocked"]
    assert f"point {stuck.pk} (meter {stuck.meter.number}): total went backwards" in warning.reason


def test_coming_back_from_a_misread_is_not_use_a_reset_cannot_pass_for_a_wrap():
    """A zero the week before, then the true total again, is no use of 999,000 kWh in a
    quarter hour: the point's pace stays 8 kWh/h, and a later fall from 999,000 to 0.4
    (1,000 kWh in a quarter hour if it were a wrap) is refused."""
    account, point = dlt645_tenant()
    for minutes, total in [
        (0, "999000.000"),
        (15, "999002.000"),
        (30, "0.000"),
        (45, "999004.000"),
    ]:
        read(point, minutes, total)
    assert fastest_use(point.pk, T0 + dt.timedelta(minutes=45), Unit.KWH) == Decimal(8)
    settle_point(account, point)
    settle_point(account, point)
    assert balance(account) == cny("-4.00")
    read(point, 60, "0.400")
    read(point, 500, "1.000")
    with pytest.raises(SettlementBlocked, match=r"a wrap would mean 996\.400 kWh"):
        settle_point(account, point)


def test_a_zero_in_the_latest_sweep_between_interval_rows_waits_for_the_next_one(settle):
    account, point = server_side_tenant("1.00")
    read(point, 0, "100.000")
    settle(account, point)  # the baseline
    read(point, 15, "101.000")
    PointState.objects.filter(point=point).update(
        read_at=T0 + dt.timedelta(minutes=20), energy_total=Decimal("0.000")
    )  # the latest sweep, not an interval row
    settle(account, point)  # up to the interval row; the zero waits
    assert balance(account) == cny("-1.00")
    PointState.objects.filter(point=point).update(
        read_at=T0 + dt.timedelta(minutes=25), energy_total=Decimal("102.500")
    )
    settle(account, point)
    assert balance(account) == cny("-2.50")
    assert ledger_problems() == []
