"""Settlement from per-cell summaries: months of readings priced from a few rows a day.

:func:`prefetch` summarises every due point's unsettled readings per pricing
cell in one grouped query per tariff (``billing.cells_sql``);
:func:`price_summary` prices a point from its summary and
:func:`price_by_cells` from a query of its own. Both give exactly what
pricing every reading gives (``pems.domain.cells``), or raise
:class:`NotSummarisable` so the caller goes reading by reading.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import F
from django.utils import timezone

from pems.accounts.models import Account
from pems.billing.cells_sql import point_cells, points_cells
from pems.billing.lines_sql import Due, Lines, lines_as_read
from pems.billing.models import AccountTariff, SettlementCursor, Tariff
from pems.billing.tariffs import priced
from pems.domain.cells import Cell, ClassCache, cells_from_readings, price_cells
from pems.domain.charges import Charges
from pems.domain.errors import UsageError
from pems.domain.pricing import (
    Accumulator,
    MeterReading,
    exact_arithmetic,
    intervals_from_readings,
    split_interval,
)
from pems.domain.quantities import Quantity, Unit
from pems.domain.segments import cut_points, segments
from pems.domain.tariff import Tariff as PricedTariff
from pems.domain.tiers import CycleState
from pems.domain.tou import Rate
from pems.inventory.choices import FeeControl
from pems.metering.models import IntervalReading, PointState

REGISTERS = {"sharp": Rate.SHARP, "peak": Rate.PEAK, "flat": Rate.FLAT, "valley": Rate.VALLEY}


class NotSummarisable(Exception):
    """Per-cell summaries cannot price these readings; go reading by reading."""


@dataclass(frozen=True)
class Summary:
    """One point's readings after ``after``, summarised by a query made for many points."""

    after: datetime
    assignment: AccountTariff
    cells: list[Cell] | None
    cuts: Sequence[datetime]
    lines: Lines | None  # priced by the database (PostgreSQL), or None: price the cells
    horizon: datetime
    classes: ClassCache
    latest: PointState | None


@dataclass(frozen=True)
class Prefetch:
    """Per-cell summaries of many points' readings, read by one query per tariff.

    :func:`prefetch` makes it before a settlement run; :func:`pems.billing.settlement.settle_point`
    uses a point's summary only while the point's cursor and tariff are still
    what they were, so a stale summary costs a query, never a wrong charge.
    """

    summaries: dict[int, Summary]  # by cursor id

    def of(self, cursor: SettlementCursor) -> Summary | None:
        """The cursor's summary, if the cursor is still where the summary starts."""
        summary = self.summaries.get(cursor.pk)
        return summary if summary is not None and summary.after == cursor.settled_until else None


#: Cut points of a prefetch reach this far past now, for readings a fast meter clock dates ahead.
_PREFETCH_HORIZON = timedelta(days=1)


def prefetch(accounts: Sequence[Account]) -> Prefetch:
    """Summarise the unsettled readings of the accounts' server-side points, by tariff.

    Points whose cursor has a tariff change ahead are left out: they settle up
    to the change point by point.
    """
    return Prefetch(dict(summaries_as_read(accounts, stream=False)))


def summaries_as_read(
    accounts: Sequence[Account], stream: bool = True
) -> Iterator[tuple[int, Summary]]:
    """:func:`prefetch`'s summaries by cursor id, each as soon as it is known: with
    ``stream``, a backlog priced from the hour marks comes point by point while
    PostgreSQL still walks the rest (``lines_sql.lines_as_read``)."""
    ids = [account.pk for account in accounts]
    cursors = list(
        SettlementCursor.objects.filter(
            account_id__in=ids,
            point__fee_control=FeeControl.SERVER_SIDE,
            point__account_links__account_id=F("account_id"),
            point__account_links__released_at__isnull=True,
        )
    )
    assignments: dict[int, list[AccountTariff]] = {}
    for row in AccountTariff.objects.filter(account_id__in=ids).select_related("tariff__site"):
        assignments.setdefault(row.account_id, []).append(row)
    states = {
        state.point_id: state
        for state in PointState.objects.filter(
            point_id__in=[c.point_id for c in cursors], energy_total__isnull=False
        )
    }
    # By tariff: each due cursor with the assignment it is priced under.
    groups: dict[int, dict[SettlementCursor, AccountTariff]] = {}
    for cursor in cursors:
        rows = assignments.get(cursor.account_id, [])
        if any(row.effective_from > cursor.settled_until for row in rows):
            continue  # a tariff change ahead
        current = max(rows, key=lambda row: row.effective_from, default=None)
        if current is not None:
            groups.setdefault(current.tariff_id, {})[cursor] = current
    horizon = timezone.now() + _PREFETCH_HORIZON
    for due in groups.values():
        yield from _group_summaries(due, states, horizon, stream)


def _group_summaries(
    due: dict[SettlementCursor, AccountTariff],
    states: dict[int, PointState],
    horizon: datetime,
    stream: bool,
) -> Iterator[tuple[int, Summary]]:
    """The summaries of the due cursors of one tariff."""
    tariff = priced(next(iter(due.values())).tariff)
    cuts = cut_points(min(c.settled_until for c in due), horizon, tariff)
    classes: ClassCache = {}
    by_point = {cursor.point_id: (cursor, assignment) for cursor, assignment in due.items()}

    def summary(point_id: int, cells: list[Cell] | None, lines: Lines | None) -> Summary:
        cursor, assignment = by_point[point_id]
        after, latest = cursor.settled_until, states.get(point_id)
        return Summary(after, assignment, cells, cuts, lines, horizon, classes, latest)

    left = {}  # SQLite, and what the database could not price: cell by cell
    if connection.vendor == "postgresql":
        dues = [_due(c, tariff.unit) for c in due]
        for point_id, lines in lines_as_read(dues, cuts, tariff, stream=stream):
            if lines is None:
                left[point_id] = by_point[point_id][0].settled_until
            else:
                yield by_point[point_id][0].pk, summary(point_id, None, lines)
    else:
        left = {c.point_id: c.settled_until for c in due}
    cells = points_cells(left, cuts)
    for point_id in left:
        yield by_point[point_id][0].pk, summary(point_id, cells.get(point_id), None)


def _due(cursor: SettlementCursor, unit: Unit) -> Due:
    return Due(cursor.point_id, cursor.settled_until, cursor.last_total, cycle_state(cursor, unit))


def price_by_cells(
    cursor: SettlementCursor, account: Account, tariff_row: Tariff
) -> tuple[Charges, MeterReading] | None:
    """Price every reading after the cursor from per-cell summaries (pems.domain.cells).

    None when there is nothing new. Raises NotSummarisable when the summaries
    cannot be trusted (a total falls at a cell edge, registers come and go).
    """
    tariff = priced(tariff_row)
    switch = next_switch(account, cursor)
    until = None
    if switch is not None:
        # Up to the first reading at or after the switch; the next run goes on from there.
        until = (
            IntervalReading.objects.filter(point_id=cursor.point_id, read_at__gte=switch)
            .order_by("read_at")
            .values_list("read_at", flat=True)
            .first()
        )
    latest = PointState.objects.filter(
        point_id=cursor.point_id, read_at__gt=cursor.settled_until, energy_total__isnull=False
    ).first()
    if latest is not None and switch is not None and latest.read_at > switch:
        latest = None
    newest = (
        IntervalReading.objects.filter(point_id=cursor.point_id, read_at__gt=cursor.settled_until)
        .order_by("-read_at")
        .values_list("read_at", flat=True)
        .first()
    )
    ends = [until or newest, latest.read_at if latest else None]
    if not any(ends):
        return None
    end = max(filter(None, ends))
    cuts = cut_points(cursor.settled_until, end + timedelta(seconds=1), tariff)
    cells = point_cells(cursor.point_id, cursor.settled_until, until, cuts)
    if cells is None:
        raise NotSummarisable
    return _price_cells(cursor, tariff, cells, cuts, latest)


def price_summary(
    cursor: SettlementCursor, tariff_row: Tariff, summary: Summary
) -> tuple[Charges, MeterReading] | None:
    """:func:`price_by_cells` from a prefetched summary, without a query."""
    if summary.cells is None and summary.lines is None:
        raise NotSummarisable
    latest = summary.latest
    if latest is not None and latest.read_at is not None and latest.read_at <= cursor.settled_until:
        latest = None
    ends = [summary.lines.last_at] if summary.lines else [c.last_at for c in summary.cells or []]
    if latest is not None and latest.read_at is not None:
        ends.append(latest.read_at)
    if ends and max(ends) >= summary.horizon:
        raise NotSummarisable  # past the last cut point the prefetch looked up
    tariff = priced(tariff_row)
    if summary.lines is not None:
        return price_lines(cursor, tariff, summary.lines, latest)
    assert summary.cells is not None  # noqa: S101 — checked above
    return _price_cells(cursor, tariff, list(summary.cells), summary.cuts, latest, summary.classes)


def price_lines(
    cursor: SettlementCursor, tariff: PricedTariff, lines: Lines, latest: PointState | None
) -> tuple[Charges, MeterReading] | None:
    """Charges from the lines the database priced, then the latest reading after them."""
    unit = tariff.unit
    totals = Accumulator(tariff, cycle_state(cursor, unit))
    last = MeterReading(lines.last_at, Quantity(lines.last_total, unit))
    with exact_arithmetic():
        for (cycle, version, rate, tier), quantity in lines.quantities.items():
            totals.add_placed(cycle, version, rate, tier, quantity)
        if lines.last_at > cursor.settled_until:
            totals.resume(CycleState(lines.cycle_start, Quantity(lines.cycle_used, unit)))
        else:  # nothing new in the interval rows: from the cursor itself
            last = meter_reading(cursor.settled_until, cursor, unit, "last_")
        if latest is not None and latest.read_at > last.at:
            # The latest reading between interval rows: balances follow the meter within a sweep.
            reading = meter_reading(latest.read_at, latest, unit, "energy_")
            try:
                (interval,) = intervals_from_readings([last, reading])
            except UsageError as error:
                raise NotSummarisable from error
            pieces = segments(interval.start, interval.end, tariff)
            for piece, rate, amount in split_interval(interval, pieces, tariff):
                totals.add(piece.cycle, piece.version, rate, amount)
            last = reading
        if last.at <= cursor.settled_until:
            return None
        return totals.charges(cursor.settled_until, last.at, True), last


def _price_cells(
    cursor: SettlementCursor,
    tariff: PricedTariff,
    cells: list[Cell],
    cuts: Sequence[datetime],
    latest: PointState | None,
    classes: ClassCache | None = None,
) -> tuple[Charges, MeterReading] | None:
    if latest is not None and (not cells or latest.read_at > cells[-1].last_at):
        # The latest reading between interval rows: balances follow the meter within a sweep.
        cells.extend(
            cells_from_readings(
                [meter_reading(latest.read_at, latest, tariff.unit, "energy_")], cuts
            )
        )
    if not cells:
        return None
    start = meter_reading(cursor.settled_until, cursor, tariff.unit, "last_")
    try:
        charges = price_cells(
            start, cells, cuts, tariff, cycle_state(cursor, tariff.unit), classes=classes
        )
    except UsageError as error:
        raise NotSummarisable from error
    last = cells[-1]
    registers = {rate: Quantity(value, tariff.unit) for rate, value in last.last_registers.items()}
    return charges, MeterReading(last.last_at, Quantity(last.last_total, tariff.unit), registers)


def next_switch(account: Account, cursor: SettlementCursor) -> datetime | None:
    """When the account's next tariff assignment after the cursor takes effect."""
    return (
        AccountTariff.objects.filter(account=account, effective_from__gt=cursor.settled_until)
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )


def meter_reading(at: datetime, source: Any, unit: Unit, prefix: str) -> MeterReading:
    registers = {
        rate: Quantity(value, unit)
        for name, rate in REGISTERS.items()
        if (value := getattr(source, f"{prefix}{name}")) is not None
    }
    return MeterReading(at, Quantity(getattr(source, f"{prefix}total"), unit), registers)


def cycle_state(cursor: SettlementCursor, unit: Unit) -> CycleState | None:
    return (
        CycleState(cursor.cycle_start, Quantity(cursor.cycle_used, unit))
        if cursor.cycle_start
        else None
    )
