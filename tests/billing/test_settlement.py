"""Server-side settlement charges each kWh exactly once, to the cent, from stored readings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pems.accounts.actions import balance
from pems.billing.models import SettlementCursor
from pems.billing.settlement import SettlementBlocked, settle_account, settle_point
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from pems.metering.models import IntervalReading
from tests.billing.scenarios import T0, flat_tariff_document, reading, server_side_tenant
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db


def test_the_first_reading_is_the_baseline_and_later_ones_are_charged():
    account, point = server_side_tenant("1.00")
    reading(point, 0, "100.000")
    assert settle_point(account, point) is None  # baseline only
    reading(point, 15, "101.500")
    reading(point, 30, "103.000")
    done = settle_point(account, point)
    assert done.quantity == Decimal("3.000000")
    assert done.amount == cny("3.00")
    assert balance(account) == cny("-3.00")
    assert settle_point(account, point) is None  # nothing new: nothing charged twice
    assert JournalEntry.objects.filter(kind="settlement").count() == 1
    assert ledger_problems() == []


def test_an_offline_gap_is_charged_once_when_the_meter_returns():
    account, point = server_side_tenant("0.50")
    reading(point, 0, "10.000")
    settle_point(account, point)
    reading(point, 15, "11.000")
    settle_point(account, point)
    reading(point, 24 * 60, "59.000")  # a day later: 48 kWh in the gap
    done = settle_point(account, point)
    assert done.quantity == Decimal("48.000000")
    assert balance(account) == cny("-24.50")  # (1 + 48) kWh × 0.50


def test_sub_cent_charges_accumulate_instead_of_vanishing():
    # 0.004 kWh per run at 1.00 = 0.004 yuan: rounding each run alone would
    # charge 0.00 forever. The residue carries: 3 runs = 0.012 → 0.01 posted.
    account, point = server_side_tenant("1.00")
    reading(point, 0, "1.000")
    settle_point(account, point)
    for step in range(1, 4):
        reading(point, 15 * step, str(Decimal("1.000") + Decimal("0.004") * step))
        settle_point(account, point)
    assert balance(account) == cny("-0.01")


def test_a_total_going_backwards_stops_settlement_there():
    account, point = server_side_tenant("1.00")
    reading(point, 0, "500.000")
    settle_point(account, point)
    reading(point, 15, "502.000")
    reading(point, 30, "0.500")  # replaced meter or rollover
    reading(point, 45, "1.500")
    done = settle_point(account, point)
    assert done.amount == cny("2.00")
    with pytest.raises(SettlementBlocked, match="went backwards"):
        settle_point(account, point)
    assert balance(account) == cny("-2.00")


def test_an_account_without_tariff_is_not_settled():
    account, point = server_side_tenant()
    account.tariffs.all().delete()
    reading(point, 0, "1.000")
    settle_point(account, point)
    reading(point, 15, "2.000")
    with pytest.raises(SettlementBlocked, match="no tariff"):
        settle_point(account, point)


def test_a_tariff_switch_applies_from_the_first_reading_after_it():
    account, point = server_side_tenant("1.00")
    reading(point, 0, "0.000")
    settle_point(account, point)
    dearer = create_tariff(account.tenant.site, "Dear", flat_tariff_document("2.00"), "m")
    assign_tariff(account, dearer, T0 + dt.timedelta(minutes=15), "m")
    reading(point, 15, "1.000")  # 1 kWh at 1.00, up to the switch
    reading(point, 30, "2.000")  # 1 kWh at 2.00
    settle_point(account, point)
    settle_point(account, point)
    assert balance(account) == cny("-3.00")


def test_meter_side_points_are_not_settled_by_the_server():
    account, point = server_side_tenant(fee_control="meter-side")
    reading(point, 0, "1.000")
    reading(point, 15, "5.000")
    assert settle_account(account) == []
    assert balance(account) == cny("0.00")


def test_fixed_charges_are_charged_once_per_day():
    # 0.50 a day, no energy. Shanghai midnights fall at 16:00 UTC: T0 + 16 h,
    # T0 + 40 h (a run ends exactly there: counted once, by the next run) and
    # T0 + 64 h — three days over five runs → 1.50.
    account, point = server_side_tenant()
    site = account.tenant.site
    rental = 'fixed = [{ name = "rental", amount = 0.50, per = "day" }]'
    tariff = create_tariff(site, "Rental", flat_tariff_document(extra=rental), "m")
    assign_tariff(account, tariff, T0 - dt.timedelta(hours=1), "m")
    reading(point, 0, "7.000")
    settle_point(account, point)
    for hours in (10, 30, 40, 60, 70):
        reading(point, hours * 60, "7.000")
        settle_point(account, point)
    assert balance(account) == cny("-1.50")


TOU_TIERED = """
name = "TOU tiered"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"
billing_cycle = "month"

[[versions]]
id = "v1"
effective_from = 2026-01-01
prices = { peak = 1.1053, flat = 0.6632, valley = 0.2981 }
tiers = [{ up_to = 20, surcharge = 0 }, { surcharge = 0.30 }]

[versions.tou]
periods = [
    { start = "22:00", end = "08:00", rate = "valley" },
    { start = "08:00", end = "17:00", rate = "flat" },
    { start = "17:00", end = "22:00", rate = "peak" },
]
"""


def test_days_of_readings_are_priced_from_cell_summaries_like_every_reading(monkeypatch):
    """Three days of 15-minute readings, each a few seconds late as a real sweep is, under
    TOU with a tier bound crossed on the way: one run charges exactly what pricing every
    interval gives, without reading the rows one by one."""
    from pems.billing import settlement
    from pems.billing.tariffs import priced
    from pems.domain.pricing import MeterReading, intervals_from_readings, price
    from pems.domain.quantities import kwh

    account, point = server_side_tenant()
    tariff = create_tariff(account.tenant.site, "TOU", TOU_TIERED, actor="test")
    assign_tariff(account, tariff, T0 - dt.timedelta(hours=1), actor="test")
    totals = [Decimal("100.000") + Decimal("0.137") * i for i in range(3 * 96 + 1)]
    stamps = [T0 + dt.timedelta(minutes=15 * i, seconds=i % 7) for i in range(len(totals))]
    IntervalReading.objects.bulk_create(
        IntervalReading(
            point=point, interval_start=at.replace(second=0), read_at=at, energy_total=t
        )
        for at, t in zip(stamps, totals, strict=True)
    )
    settle_point(account, point)  # baseline at the first reading

    def one_by_one(*args):
        raise AssertionError("settled reading by reading")

    monkeypatch.setattr(settlement, "_readings_to_price", one_by_one)
    done = settle_point(account, point)

    readings = [MeterReading(at, kwh(total)) for at, total in zip(stamps, totals, strict=True)]
    expected = price(intervals_from_readings(readings), priced(tariff))
    assert done.quantity == expected.energy.amount == Decimal("39.456")
    assert done.amount == expected.total
    assert balance(account) == -expected.total
    assert settle_point(account, point) is None


def test_a_prefetch_of_many_points_charges_what_settling_each_alone_charges(monkeypatch):
    """Two points on the TOU tariff and one on a flat tariff, their readings summarised by one
    query per tariff: each is charged what settling it on its own charges, to the cent, and a
    point whose cursor moved after the prefetch is settled from the database again."""
    from pems.billing import summaries as summaries_module
    from pems.billing.summaries import prefetch

    shared_tou = None

    def tenancy(tou: bool, step: str):
        nonlocal shared_tou
        account, point = server_side_tenant(site=shared_tou.site if tou and shared_tou else None)
        if tou:  # the second TOU account is on the first one's site, with the same tariff
            if shared_tou is None:
                shared_tou = create_tariff(account.tenant.site, "TOU", TOU_TIERED, actor="test")
            assign_tariff(account, shared_tou, T0 - dt.timedelta(hours=1), actor="test")
        for i in range(2 * 96 + 1):
            at = T0 + dt.timedelta(minutes=15 * i, seconds=i % 5)
            total = Decimal("50.000") + Decimal(step) * i
            IntervalReading.objects.create(
                point=point, interval_start=at.replace(second=0), read_at=at, energy_total=total
            )
        settle_point(account, point)  # baseline
        return account, point

    tenancies = [tenancy(True, "0.211"), tenancy(True, "0.093"), tenancy(False, "0.5")]
    alone = [settled_and_undone(account, point) for account, point in tenancies]
    summaries = prefetch([account for account, _ in tenancies])
    assert len(summaries.summaries) == 3

    def per_point_query(*args):
        raise AssertionError("a prefetched point was summarised again")

    monkeypatch.setattr(summaries_module, "point_cells", per_point_query)
    charged = [settle_point(a, p, prefetched=summaries).amount for a, p in tenancies]
    assert charged == alone
    first, second, flat = (
        summaries.summaries[SettlementCursor.objects.get(point=p).pk] for _, p in tenancies
    )
    assert first.classes is second.classes  # one cache per tariff
    assert flat.classes is not first.classes
    monkeypatch.undo()
    account, point = tenancies[0]
    reading(point, 3 * 24 * 60, "500.000")
    assert settle_point(account, point, prefetched=summaries) is not None  # moved: re-read
    assert ledger_problems() == []


def settled_and_undone(account, point):
    """What settling the point on its own charges; the charge is rolled back."""
    savepoint = transaction.savepoint()
    try:
        return settle_point(account, point).amount
    finally:
        transaction.savepoint_rollback(savepoint)


def test_a_tariff_assigned_after_the_prefetch_is_the_one_charged():
    """A tariff assigned from the cursor's instant, after the prefetch read the old one."""
    from pems.billing.models import SettlementCursor
    from pems.billing.summaries import prefetch

    account, point = server_side_tenant("1.00")
    reading(point, 0, "100.000")
    settle_point(account, point)  # baseline
    reading(point, 15, "110.000")
    summaries = prefetch([account])
    assert len(summaries.summaries) == 1
    dearer = create_tariff(account.tenant.site, "Dear", flat_tariff_document("2.00"), "test")
    assign_tariff(
        account, dearer, SettlementCursor.objects.get(point=point).settled_until, actor="test"
    )
    assert settle_point(account, point, prefetched=summaries).amount == cny("20.00")


def test_an_offline_gap_is_split_by_the_meters_own_tou_registers(monkeypatch):
    """A meter with sharp/peak/flat/valley registers goes quiet for nine hours across TOU
    boundaries: the database sums its registers per cell and the gap is charged by what the
    registers say, exactly as pricing every reading does; with and without a prefetch."""
    from pems.billing import settlement
    from pems.billing.summaries import prefetch
    from pems.billing.tariffs import priced
    from pems.domain.pricing import MeterReading, intervals_from_readings, price
    from pems.domain.quantities import kwh
    from pems.domain.tou import Rate

    account, point = server_side_tenant()
    tariff = create_tariff(account.tenant.site, "TOU", TOU_TIERED, actor="test")
    assign_tariff(account, tariff, T0 - dt.timedelta(hours=1), actor="test")
    rates = {"valley": Rate.VALLEY, "flat": Rate.FLAT, "peak": Rate.PEAK}
    registers = {"valley": Decimal("10.000"), "flat": Decimal("20.000"), "peak": Decimal("5.000")}
    readings = []
    # Every 15 minutes for a day, then silent for nine hours, then every 15 minutes again;
    # the meter books usage to the register of the hour it happened in (Shanghai time).
    minutes = [*range(0, 24 * 60, 15), *range(33 * 60, 36 * 60, 15)]
    for n, minute in enumerate(minutes):
        at = T0 + dt.timedelta(minutes=minute, seconds=n % 4)
        hour = (at + dt.timedelta(hours=8)).hour
        rate = "valley" if hour >= 22 or hour < 8 else "flat" if hour < 17 else "peak"
        if n:
            step = Decimal("0.125") * (minute - minutes[n - 1]) // 15
            registers[rate] += step if minute - minutes[n - 1] == 15 else 0
            if minute - minutes[n - 1] > 15:  # the gap: spread as the meter itself did
                registers["valley"] += Decimal("2.250")
                registers["flat"] += Decimal("1.500")
                registers["peak"] += Decimal("0.750")
        total = sum(registers.values())
        fields = {f"energy_{name}": value for name, value in registers.items()}
        IntervalReading.objects.create(
            point=point, interval_start=at.replace(second=0), read_at=at, energy_total=total,
            energy_sharp=Decimal("0.000"), **fields,
        )  # fmt: skip
        readings.append(
            MeterReading(
                at,
                kwh(total),
                {Rate.SHARP: kwh(Decimal(0)), **{rates[k]: kwh(v) for k, v in registers.items()}},
            )
        )
    settle_point(account, point)  # baseline at the first reading
    expected = price(intervals_from_readings(readings), priced(tariff))

    def one_by_one(*args):
        raise AssertionError("settled reading by reading")

    monkeypatch.setattr(settlement, "_readings_to_price", one_by_one)
    assert settled_and_undone(account, point) == expected.total
    summaries = prefetch([account])
    done = settle_point(account, point, prefetched=summaries)
    assert (done.quantity, done.amount) == (expected.energy.amount, expected.total)


def test_settling_a_prefetch_in_chunks_charges_what_settling_each_alone_charges():
    """Three points summarised by one prefetch and settled in one chunk: each account is
    charged what settling its point alone charges; a point settled by someone else after
    the prefetch is left alone; a second run charges nothing."""
    from pems.accounts.actions import balance
    from pems.billing.settle_many import settle_summaries
    from pems.billing.summaries import prefetch

    tenancies = []
    for step in ["0.211", "0.093", "0.500"]:
        account, point = server_side_tenant()
        for i in range(2 * 96 + 1):
            at = T0 + dt.timedelta(minutes=15 * i, seconds=i % 5)
            IntervalReading.objects.create(
                point=point,
                interval_start=at.replace(second=0),
                read_at=at,
                energy_total=Decimal("50.000") + Decimal(step) * i,
            )
        settle_point(account, point)  # baseline
        tenancies.append((account, point))
    alone = [settled_and_undone(account, point) for account, point in tenancies]
    summaries = prefetch([account for account, _ in tenancies])
    late_account, late_point = tenancies[2]
    settle_point(late_account, late_point)  # another run got there first
    entries = JournalEntry.objects.filter(kind="settlement").count()

    with CaptureQueriesContext(connection) as chunk:
        handled = settle_summaries(summaries.summaries.items())

    # Its accounts and cursors locked, its assignments read, its entries posted (here the
    # sites' first charges: their revenue rows opened first), its cursors moved: no
    # statement a point, nor one for a field the accounts' lock left unread.
    assert len(chunk.captured_queries) == (13 if connection.vendor == "postgresql" else 12)
    assert handled == {(a.pk, p.pk) for a, p in tenancies[:2]}
    assert [balance(a) for a, _ in tenancies] == [-alone[0], -alone[1], -alone[2]]
    assert JournalEntry.objects.filter(kind="settlement").count() == entries + 2
    again = settle_summaries(prefetch([account for account, _ in tenancies]).summaries.items())
    assert again == {(a.pk, p.pk) for a, p in tenancies}  # found, nothing new
    assert JournalEntry.objects.filter(kind="settlement").count() == entries + 2
    assert ledger_problems() == []
