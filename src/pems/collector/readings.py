"""Readings as the collector passes them around, and the events two readings imply.

Pure functions over typed records: :func:`derive_events` compares a point's
previous and new reading and names what changed (relay, alarms, purchase
count, identity, clock, energy running backwards or rolling over).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from pems.devices.records import MeterState
from pems.devices.totals import total_wrap
from pems.domain.continuity import is_wrap


@dataclass(frozen=True, slots=True)
class Reading:
    """One good reading of a metering point: the collector's clock and the site's local day."""

    point_id: int
    meter_id: int
    read_at: datetime
    day: date
    state: MeterState


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The fields of a point's last reading that events compare."""

    energy_total: Decimal
    purchase_count: int | None
    relay_closed: bool | None
    alarms: tuple[bool | None, bool | None, bool | None]
    type_code: int | None
    clock_skewed: bool
    #: The range of the meter's total register (``devices.totals``); None: not known.
    wrap: Decimal | None = None


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event to store: kind (a ``metering.EventKind`` value), before/after, detail."""

    kind: str
    before: dict[str, str]
    after: dict[str, str]
    detail: str = ""


def snapshot_of(reading: Reading, drift_limit: int) -> Snapshot:
    """The comparable part of ``reading``."""
    state = reading.state
    return Snapshot(
        energy_total=state.energy.total,
        purchase_count=state.purchase_count,
        relay_closed=state.relay_closed,
        alarms=(state.alarm1, state.alarm2, state.arrears),
        type_code=state.type_code,
        clock_skewed=clock_skew(reading) > timedelta(seconds=drift_limit),
        wrap=total_wrap(state.model),
    )


def clock_skew(reading: Reading) -> timedelta:
    """How far the meter's clock is from the collector's (zero when it has none)."""
    clock = reading.state.clock
    return abs(clock - reading.read_at) if clock is not None else timedelta(0)


def derive_events(prev: Snapshot | None, new: Snapshot, skew: timedelta) -> list[EventDraft]:
    """Events implied by going from ``prev`` to ``new`` (none for a first reading)."""
    if prev is None:
        return []
    events: list[EventDraft] = []
    if prev.type_code != new.type_code or (
        prev.purchase_count is not None
        and new.purchase_count is not None
        and new.purchase_count < prev.purchase_count
    ):
        events.append(
            _change("identity_changed", prev, new, ("type_code", "purchase_count"), "replaced?")
        )
    if prev.relay_closed != new.relay_closed:
        events.append(_change("relay_changed", prev, new, ("relay_closed",)))
    if prev.alarms != new.alarms:
        events.append(_change("alarms_changed", prev, new, ("alarms",)))
    if new.clock_skewed and not prev.clock_skewed:
        events.append(
            EventDraft("clock_drift", {}, {"skew_s": str(int(skew.total_seconds()))}, "clock")
        )
    if new.energy_total < prev.energy_total:
        rolled = new.wrap is not None and is_wrap(prev.energy_total, new.energy_total, new.wrap)
        kind = "energy_rollover" if rolled else "energy_backwards"
        events.append(_change(kind, prev, new, ("energy_total",)))
    return events


def _change(
    kind: str, prev: Snapshot, new: Snapshot, fields: tuple[str, ...], detail: str = ""
) -> EventDraft:
    return EventDraft(
        kind,
        {f: str(getattr(prev, f)) for f in fields},
        {f: str(getattr(new, f)) for f in fields},
        detail,
    )


def interval_start(moment: datetime, interval: timedelta) -> datetime:
    """The start of the interval (aligned to UTC midnight) containing ``moment``."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + ((moment - midnight) // interval) * interval
