"""A settled point whose total falls: misreads passed over, register wraps counted on.

The rules are pure (``pems.domain.continuity``); this module gives them what
they read from the database — the range of the point's meter register (from
its model's register map) and the point's fastest recent use — only when a
total does fall, and words the refusal when pricing has to stop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from pems.billing.models import SettlementCursor
from pems.billing.summaries import meter_reading
from pems.devices.totals import total_wrap
from pems.domain.continuity import (
    MISREAD_WINDOW,
    RATE_LOOKBACK,
    Continuous,
    Fall,
    continuous,
    falls,
    fastest_pace,
)
from pems.domain.pricing import MeterReading
from pems.domain.quantities import Quantity, Unit
from pems.inventory.models import MeteringPoint
from pems.metering.models import IntervalReading, PointState

log = logging.getLogger(__name__)

#: Readings after a cursor looked through for a fall (settlement's own batch).
FALL_LOOKAHEAD = 2000


def made_continuous(
    point_id: int, history: Sequence[MeterReading], witnessed_last: bool = False
) -> Continuous:
    """``history`` (the cursor's reading, then the newer ones) ready to price;
    ``witnessed_last`` as :func:`~pems.domain.continuity.continuous` takes it."""
    if not falls(history):
        return Continuous(list(history), history[-1], None, 0, 0)
    unit = history[0].total.unit
    return continuous(
        history, _wrap(point_id), lambda at: fastest_use(point_id, at, unit), witnessed_last
    )


def log_charged(point_id: int, made: Continuous) -> None:
    """Say what settlement charged across: misreads passed over, register wraps."""
    if made.passed_over:
        log.warning(
            "readings below the total before them passed over as misreads",
            extra={"point": point_id, "readings": made.passed_over},
        )
    if made.wraps:
        log.warning("the total register wrapped: counted on from zero", extra={"point": point_id})


def history_after(
    cursor: SettlementCursor,
    unit: Unit,
    limit: int | None = None,
    latest: bool = False,
    before: datetime | None = None,
) -> list[MeterReading]:
    """The cursor's reading, then the point's interval readings after it (the first
    ``limit``; only those before ``before``), then, with ``latest``, its latest state
    if newer."""
    rows = IntervalReading.objects.filter(
        point_id=cursor.point_id, read_at__gt=cursor.settled_until
    ).order_by("read_at")
    if before is not None:
        rows = rows.filter(read_at__lt=before)
    history = [
        meter_reading(cursor.settled_until, cursor, unit, "last_"),
        *(meter_reading(r.read_at, r, unit, "energy_") for r in rows[:limit]),
    ]
    state = (
        PointState.objects.filter(
            point_id=cursor.point_id, read_at__gt=history[-1].at, energy_total__isnull=False
        ).first()
        if latest
        else None
    )
    if state is not None and state.read_at is not None:
        history.append(meter_reading(state.read_at, state, unit, "energy_"))
    return history


def exchange_history(
    cursor: SettlementCursor, unit: Unit, at: datetime, total: Decimal
) -> list[MeterReading]:
    """What a meter exchange at ``at`` settles: the cursor's reading, the old meter's
    readings after it and before ``at``, then the final ``total`` a person read off it
    (to be made continuous with ``witnessed_last``)."""
    return [*history_after(cursor, unit, before=at), MeterReading(at, Quantity(total, unit))]


def fall_after(cursor: SettlementCursor, unit: Unit) -> Fall | None:
    """Where the point's total fell after ``cursor`` and settlement stopped, if it did
    (what the room page says of a stuck point; reads as settlement reads)."""
    history = history_after(cursor, unit, FALL_LOOKAHEAD, latest=True)
    return made_continuous(cursor.point_id, history).fall if len(history) > 1 else None


def fall_refusal(point_id: int, fall: Fall) -> str:
    """Why a point cannot be settled past ``fall``, and what a person can do."""
    before, after = fall.before, fall.after
    meter = MeteringPoint.objects.filter(pk=point_id).values_list("meter__number", flat=True)
    what = (
        f"point {point_id} (meter {meter.first()}): total went backwards from {before.total} "
        f"to {after.total} at {after.at.isoformat()}"
    )
    if not fall.lasting:
        until = (after.at + MISREAD_WINDOW).isoformat()
        return f"{what}; waiting until {until} for the meter to come back (a misread)"
    return f"{what} and stayed down ({fall.not_a_wrap}); record the meter replacement"


def fastest_use(point_id: int, at: datetime, unit: Unit) -> Decimal | None:
    """The point's fastest use between two stored readings in the week before ``at``,
    in units an hour (``domain.continuity.fastest_pace``); None when it used nothing."""
    rows = IntervalReading.objects.filter(
        point_id=point_id, read_at__gte=at - RATE_LOOKBACK, read_at__lte=at
    ).order_by("read_at")
    pace = fastest_pace([meter_reading(r.read_at, r, unit, "energy_") for r in rows])
    return pace or None


def _wrap(point_id: int) -> Decimal | None:
    """The range of the total register of the point's meter (None: model unknown)."""
    code = (
        MeteringPoint.objects.filter(pk=point_id).values_list("meter__model__code", flat=True)
    ).first()
    return None if code is None else total_wrap(code)
