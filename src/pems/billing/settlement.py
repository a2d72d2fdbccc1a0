"""Server-side settlement: charge each new kWh (m³) of a metering point once.

A cursor per (account, metering point) remembers the last reading charged.
Each run prices the readings after it with the account's tariff (TOU, tiers,
fixed charges; ``pems.domain.pricing``), posts one settlement entry, and moves
the cursor — in one transaction, under the account's lock. Sub-cent results
are carried in the cursor's residue, so frequent runs neither lose nor invent
money. A total that goes backwards is passed over when the meter comes back
(a misread) and counted on when its register wrapped (``billing.falls``);
otherwise (a replaced or reset meter) the run stops at that reading until the
replacement action rebases the cursor.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db import connection, transaction

from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing.falls import exchange_history, fall_refusal, log_charged, made_continuous
from pems.billing.models import RESIDUE_PLACES, AccountTariff, SettlementCursor, Tariff
from pems.billing.summaries import (
    REGISTERS,
    NotSummarisable,
    Prefetch,
    cycle_state,
    meter_reading,
    next_switch,
    price_by_cells,
    price_summary,
)
from pems.billing.tariffs import priced, tariff_at
from pems.domain.charges import Charges
from pems.domain.errors import DomainError
from pems.domain.money import Money, round_money
from pems.domain.pricing import MeterReading, intervals_from_readings, price
from pems.domain.quantities import Unit
from pems.domain.tiers import CycleState
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.posting import NewEntry, post
from pems.metering.models import IntervalReading, PointState

#: Readings priced per run and point; a long offline gap is settled over several runs.
BATCH = 2000
RESIDUE_QUANTUM = Decimal(1).scaleb(-RESIDUE_PLACES)


class SettlementBlocked(RuntimeError):
    """A point cannot be settled yet (no tariff, a total went backwards); says why.

    ``points`` names the points refused when an account's settlement raises it.
    """

    def __init__(self, message: str, points: Collection[int] = ()) -> None:
        super().__init__(message)
        self.points = frozenset(points)


@dataclass(frozen=True)
class Settled:
    """What one run charged for one point."""

    point_id: int
    entry: JournalEntry | None
    quantity: Decimal
    amount: Money
    until: datetime


def settle_account(
    account: Account,
    actor: Any = "settlement",
    prefetched: Prefetch | None = None,
    handled: Collection[tuple[int, int]] = (),
    skip: Collection[int] = (),
) -> list[Settled]:
    """Settle every server-side metering point the account pays for but those in ``skip``.

    ``handled`` holds (account id, point id) pairs already settled in this run
    (``settle_many.prefetch_and_settle``). A point that cannot be settled does not
    stop the others (each point is its own transaction); once they are done,
    SettlementBlocked names every point refused and why.
    """
    points = MeteringPoint.objects.filter(
        account_links__account=account,
        account_links__released_at__isnull=True,
        fee_control=FeeControl.SERVER_SIDE,
    ).order_by("pk")
    results, refusals = [], {}
    for point in points:
        if (account.pk, point.pk) in handled or point.pk in skip:
            continue
        try:
            done = settle_point(account, point, actor, prefetched)
        except (SettlementBlocked, DomainError) as refused:
            refusals[point.pk] = str(refused)
            continue
        if done is not None:
            results.append(done)
    if refusals:
        raise SettlementBlocked("; ".join(refusals.values()), refusals)
    return results


@transaction.atomic
def settle_point(
    account: Account,
    point: MeteringPoint,
    actor: Any = "settlement",
    prefetched: Prefetch | None = None,
) -> Settled | None:
    """Charge the account for the point's readings after its cursor; None if nothing new."""
    commit_without_waiting_for_disk()
    locked, cursor = _lock(account, point)
    if cursor is None:
        _open_cursor(locked, point)
        return None
    summary = prefetched.of(cursor) if prefetched else None
    if summary is not None and _assigned_since(locked, summary.assignment):
        summary = None  # a tariff assigned after the prefetch: the per-point way
    tariff_row = summary.assignment.tariff if summary is not None else _tariff(locked, cursor)
    try:
        by_cells = (
            price_summary(cursor, tariff_row, summary)
            if summary is not None
            else price_by_cells(cursor, locked, tariff_row)
        )
    except NotSummarisable:
        pass  # reading by reading, stopping where a total falls
    else:
        return _post(locked, cursor, tariff_row, *by_cells, actor) if by_cells else None
    readings = _readings_to_price(cursor, locked, priced(tariff_row).unit)
    if not readings:
        return None
    return _charge(locked, cursor, readings, tariff_row, actor)


@transaction.atomic
def charge_up_to(
    account: Account, point: MeteringPoint, at: datetime, total: Decimal, actor: Any
) -> Money | None:
    """Settle up to a final reading ``total`` taken at ``at`` (a meter exchange)."""
    locked, cursor = _lock(account, point)
    if cursor is None:
        return None
    tariff_row = _tariff(locked, cursor)
    history = exchange_history(cursor, priced(tariff_row).unit, at, total)
    return _charge(locked, cursor, history[1:], tariff_row, actor, witnessed_last=True).amount


def commit_without_waiting_for_disk() -> None:
    """PostgreSQL: this transaction's commit does not wait for its WAL flush.

    A crash may lose the last fraction of a second of settlements, whole (the
    entry and its cursor commit together, and WAL keeps commits in order, so a
    later durable commit — a sale — keeps every settlement before it); the
    next run settles the same readings again. Saves a disk flush per point.
    Only when settlement is the whole transaction, never inside a caller's.
    """
    if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _lock(account: Account, point: MeteringPoint) -> tuple[Account, SettlementCursor | None]:
    locked = (  # the account row only: a sale on the same site must not queue behind us
        Account.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant__site")
        .get(pk=account.pk)
    )
    cursor = (
        SettlementCursor.objects.select_for_update(no_key=True)
        .filter(account=locked, point=point)
        .first()
    )
    return locked, cursor


def _tariff(account: Account, cursor: SettlementCursor) -> Tariff:
    tariff_row = tariff_at(account, cursor.settled_until)
    if tariff_row is None:
        raise SettlementBlocked(f"account {account.pk} has no tariff at {cursor.settled_until}")
    return tariff_row


def _charge(
    account: Account,
    cursor: SettlementCursor,
    readings: Sequence[MeterReading],
    tariff_row: Tariff,
    actor: Any,
    witnessed_last: bool = False,
) -> Settled:
    """Price readings after the cursor, post the charge, advance the cursor."""
    tariff = priced(tariff_row)
    made = made_continuous(
        cursor.point_id,
        [meter_reading(cursor.settled_until, cursor, tariff.unit, "last_"), *readings],
        witnessed_last,
    )
    if made.fall is not None and len(made.readings) < 2:  # nothing before the fall
        raise SettlementBlocked(fall_refusal(cursor.point_id, made.fall))
    intervals = intervals_from_readings(made.readings)
    charges = price(intervals, tariff, cycle_state(cursor, tariff.unit))
    settled = _post(account, cursor, tariff_row, charges, made.last, actor)
    log_charged(cursor.point_id, made)
    return settled


def _post(
    account: Account,
    cursor: SettlementCursor,
    tariff_row: Tariff,
    charges: Charges,
    last: MeterReading,
    actor: Any,
) -> Settled:
    """Post the charge (with the carried residue) and advance the cursor to ``last``."""
    new, amount, residue = charge_entry(account, cursor, tariff_row, charges, last)
    entry = None
    if new is not None:
        entry = post(
            site_id=new.site_id,
            kind=new.kind,
            lines=new.lines,
            actor=actor,
            account_id=new.account_id,
            idempotency_key=new.idempotency_key,
            memo=new.memo,
        ).entry
    move(cursor, last, charges.cycle, residue)
    cursor.save()
    return Settled(cursor.point_id, entry, charges.energy.amount, amount, last.at)


def charge_entry(
    account: Account,
    cursor: SettlementCursor,
    tariff_row: Tariff,
    charges: Charges,
    last: MeterReading,
) -> tuple[NewEntry | None, Money, Decimal]:
    """The settlement entry for ``charges`` (None below a minor unit), its amount and residue.

    The carried residue goes in first; what rounds away is carried on. The key
    names the cursor's position, so the same readings are never charged twice.
    """
    exact = cursor.residue + charges.exact_total
    amount = round_money(exact, charges.currency)
    if not amount.amount:
        return None, amount, exact
    site = account.tenant.site
    entry = NewEntry(
        site_id=site.pk,
        kind=JournalEntry.Kind.SETTLEMENT,
        lines=[  # stand-ins: posting finds the rows in the statement that locks them
            (chart.wallet_ref(account), -amount),
            (chart.revenue_ref(site, tariff_row.utility), amount),
        ],
        idempotency_key=f"settle:{cursor.pk}:{cursor.settled_until.isoformat()}",
        account_id=account.pk,
        memo={
            "point": cursor.point_id,
            "from": cursor.settled_until.isoformat(),
            "to": last.at.isoformat(),
            "quantity": str(charges.energy.amount),
            "tariff": tariff_row.name,
        },
    )
    return entry, amount, exact - amount.amount


def _assigned_since(account: Account, assignment: AccountTariff) -> bool:
    """Whether another tariff assignment starts at or after ``assignment``'s start."""
    return (
        AccountTariff.objects.filter(account=account, effective_from__gte=assignment.effective_from)
        .exclude(pk=assignment.pk)
        .exists()
    )


def _open_cursor(account: Account, point: MeteringPoint) -> None:
    """Start charging from the last reading at attachment (or the first after it)."""
    attached = (
        AccountMeteringPoint.objects.filter(account=account, metering_point=point)
        .order_by("-attached_at")
        .values_list("attached_at", flat=True)
        .first()
    )
    readings = IntervalReading.objects.filter(point=point)
    base: IntervalReading | PointState | None = (
        readings.filter(read_at__lte=attached).order_by("-read_at").first()
        or readings.filter(read_at__gt=attached).order_by("read_at").first()
        # No interval row yet (a collector just started): the latest reading will do.
        or PointState.objects.filter(point=point, energy_total__isnull=False).first()
    )
    if base is None or base.read_at is None:
        return
    SettlementCursor.objects.create(
        account=account,
        point=point,
        settled_until=base.read_at,
        **{f"last_{name}": getattr(base, f"energy_{name}") for name in ["total", *REGISTERS]},
    )


def _readings_to_price(
    cursor: SettlementCursor, account: Account, unit: Unit
) -> list[MeterReading]:
    rows = IntervalReading.objects.filter(
        point_id=cursor.point_id, read_at__gt=cursor.settled_until
    ).order_by("read_at")
    switch = next_switch(account, cursor)
    chosen: list[MeterReading] = []
    for row in rows[:BATCH]:
        chosen.append(meter_reading(row.read_at, row, unit, "energy_"))
        if switch is not None and row.read_at >= switch:
            return chosen  # the next run prices from here under the new tariff
    if len(chosen) < BATCH:
        # The latest good reading, between interval rows: balances follow the meter
        # within a sweep, so a tenant at zero is tripped now, not at the next interval.
        latest = PointState.objects.filter(
            point_id=cursor.point_id,
            read_at__gt=chosen[-1].at if chosen else cursor.settled_until,
            energy_total__isnull=False,
        ).first()
        if latest is not None and (switch is None or latest.read_at <= switch):
            chosen.append(meter_reading(latest.read_at, latest, unit, "energy_"))
    return chosen


#: The cursor columns :func:`move` sets (for a bulk update).
CURSOR_FIELDS = [
    "settled_until",
    "last_total",
    *(f"last_{name}" for name in REGISTERS),
    "cycle_start",
    "cycle_used",
    "residue",
]


def move(
    cursor: SettlementCursor, last: MeterReading, cycle: CycleState | None, residue: Decimal
) -> None:
    """Set the cursor to ``last`` (not saved): where the next settlement starts."""
    cursor.settled_until = last.at
    cursor.last_total = last.total.amount
    for name, rate in REGISTERS.items():
        register = last.registers.get(rate)
        setattr(cursor, f"last_{name}", register.amount if register else None)
    if cycle is not None:
        cursor.cycle_start, cursor.cycle_used = cycle.start, cycle.used.amount
    # The residue keeps 12 decimals (half-even): far below any minor unit.
    cursor.residue = residue.quantize(RESIDUE_QUANTUM, rounding=ROUND_HALF_EVEN)
