"""Storage of readings, offline marks, events and statistics, in batches, off the event loop.

:class:`Store` methods are synchronous and run in one dedicated writer thread
(see :class:`pems.collector.service.Collector`); each batch is one
transaction of bulk upserts that behave the same on SQLite and PostgreSQL.
The store remembers each point's last snapshot to derive events, and which
interval/day rows it already wrote so a sweep inserts only new ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import Max
from django.utils import timezone

from pems.collector.readings import (
    EventDraft,
    Reading,
    Snapshot,
    clock_skew,
    derive_events,
    interval_start,
    snapshot_of,
)
from pems.collector.sql import upsert
from pems.collector.stats import Counters, GatewayCounters, StatsSnapshot
from pems.control.models import Command, CommandKind, CommandStatus
from pems.core import rows
from pems.metering.models import (
    DailyFreeze,
    EventKind,
    GatewayCommStats,
    IntervalReading,
    MeterCommStats,
    MeterEvent,
    PointState,
)

STATE_FIELDS = [
    "energy_total",
    "energy_sharp",
    "energy_peak",
    "energy_flat",
    "energy_valley",
    "remaining_credit",
    "read_at",
    "purchase_count",
    "relay_closed",
    "forced_mode",
    "alarm1",
    "alarm2",
    "arrears",
    "fault",
    "voltage_a",
    "voltage_b",
    "voltage_c",
    "current_a",
    "current_b",
    "current_c",
    "active_power",
    "power_factor",
    "meter_clock",
    "online",
    "last_seen",
    "offline_since",
]
REGISTER_FIELDS = [
    "point",
    "energy_total",
    "energy_sharp",
    "energy_peak",
    "energy_flat",
    "energy_valley",
    "remaining_credit",
    "read_at",
]
STATE_COLUMNS = ["point", *STATE_FIELDS]
COUNTER_FIELDS = [f.name for f in dataclasses.fields(Counters)] + ["updated_at"]
GATEWAY_FIELDS = [f.name for f in dataclasses.fields(GatewayCounters)] + ["updated_at"]
# Django does not split a PostgreSQL bulk_create, and a server-bound statement
# takes at most 65,535 parameters: a whole site going offline at once must fit.
_ROWS_A_STATEMENT = 1_000


@dataclass(slots=True)
class Batch:
    """What the workers hand the writer at once."""

    readings: list[Reading] = field(default_factory=list)
    offline: list[tuple[int, datetime]] = field(default_factory=list)
    stats: StatsSnapshot | None = None

    def __len__(self) -> int:
        return len(self.readings) + len(self.offline)


@dataclass(slots=True)
class _Known:
    snapshot: Snapshot | None
    online: bool


def _fell(before: Snapshot | None, reading: Reading) -> bool:
    """Whether the reading's total is below the point's reading before it (a misread of
    zeros, a register wrap, a new meter). Such a reading is not the day's freeze, the first
    good reading of the day: the next one is, so that a day's usage never starts from it."""
    return before is not None and reading.state.energy.total < before.energy_total


class Store:
    """Writes batches; lives in (and is only called from) the writer thread."""

    def __init__(self, interval: timedelta, drift_limit: int) -> None:
        self.interval = interval
        self.drift_limit = drift_limit
        self._known: dict[int, _Known] = {}
        self._interval_done: dict[int, datetime] = {}
        self._day_done: dict[int, date] = {}

    def write(self, batch: Batch) -> None:
        """Store one batch in one transaction."""
        close_old_connections()
        self._load_known([r.point_id for r in batch.readings] + [p for p, _ in batch.offline])
        with transaction.atomic():
            events = self._write_readings(batch.readings)
            events += self._write_offline(batch.offline)
            if events:
                MeterEvent.objects.bulk_create(events, batch_size=_ROWS_A_STATEMENT)
            if batch.stats is not None:
                self._write_stats(batch.stats)

    def close(self) -> None:
        """Close this thread's database connection."""
        connection.close()

    # -- readings --------------------------------------------------------------

    def _load_known(self, point_ids: Iterable[int]) -> None:
        missing = {p for p in point_ids if p not in self._known}
        if not missing:
            return
        states = (
            state
            for ids in rows.in_lists(missing)
            for state in PointState.objects.filter(point_id__in=ids)
        )
        for state in states:
            snap = None
            if state.energy_total is not None and state.read_at is not None:
                snap = Snapshot(
                    state.energy_total,
                    state.purchase_count,
                    state.relay_closed,
                    (state.alarm1, state.alarm2, state.arrears),
                    None,
                    False,
                )
            self._known[state.point_id] = _Known(snap, state.online)
            missing.discard(state.point_id)
        for point_id in missing:
            self._known[point_id] = _Known(None, True)

    def _write_readings(self, readings: Sequence[Reading]) -> list[MeterEvent]:
        if not readings:
            return []
        # One row per point: PostgreSQL refuses to upsert a row twice in one statement.
        states: dict[int, tuple[object, ...]] = {}
        intervals, days, events = [], [], []
        for reading in readings:
            before = self._known[reading.point_id].snapshot
            events += self._events(reading)
            states[reading.point_id] = _state_row(reading)
            start = interval_start(reading.read_at, self.interval)
            if self._interval_done.get(reading.point_id) != start:
                self._interval_done[reading.point_id] = start
                intervals.append((*_registers(reading), start))
            if self._day_done.get(reading.point_id) != reading.day and not _fell(before, reading):
                self._day_done[reading.point_id] = reading.day
                days.append((*_registers(reading), reading.day))
        upsert(PointState, STATE_COLUMNS, list(states.values()), ["point"], STATE_FIELDS)
        upsert(
            IntervalReading,
            [*REGISTER_FIELDS, "interval_start"],
            intervals,
            ["point", "interval_start"],
        )
        upsert(DailyFreeze, [*REGISTER_FIELDS, "day"], days, ["point", "day"])
        return events

    def _events(self, reading: Reading) -> list[MeterEvent]:
        """Events from this reading against the point's previous one; remembers this one."""
        known = self._known[reading.point_id]
        snap = snapshot_of(reading, self.drift_limit)
        if known.snapshot is not None and known.snapshot.type_code is None:
            # Loaded from the database, which does not keep the type code.
            known.snapshot = dataclasses.replace(known.snapshot, type_code=snap.type_code)
        drafts = derive_events(known.snapshot, snap, clock_skew(reading))
        if not known.online:
            drafts.append(EventDraft(EventKind.ONLINE, {}, {}, "answered again"))
        if known.snapshot and known.snapshot.purchase_count != snap.purchase_count:
            drafts += self._purchase_check(reading.point_id, reading.meter_id, snap.purchase_count)
        self._known[reading.point_id] = _Known(snap, True)
        return [_event(reading.point_id, reading.read_at, d) for d in drafts]

    def _purchase_check(
        self, point_id: int, meter_id: int, meter_count: int | None
    ) -> list[EventDraft]:
        """A purchase count PEMS did not send (or lost) is a mismatch.

        Only pushes to this meter count: a replacement meter counts from its own.
        """
        expected = Command.objects.filter(
            point_id=point_id,
            meter_id=meter_id,
            kind=CommandKind.PUSH_CREDIT,
            status__in=[CommandStatus.SENT, CommandStatus.CONFIRMED],
        ).aggregate(top=Max("purchase_count"))["top"]
        if meter_count is None or meter_count == (expected or 0):
            return []
        return [
            EventDraft(
                EventKind.PURCHASE_MISMATCH,
                {"expected": str(expected or 0)},
                {"meter": str(meter_count)},
                "meter's purchase count differs from the pushes PEMS sent",
            )
        ]

    def _write_offline(self, marks: Sequence[tuple[int, datetime]]) -> list[MeterEvent]:
        events = []
        fresh = []
        for point_id, at in marks:
            known = self._known[point_id]
            if not known.online:
                continue
            known.online = False
            events.append(_event(point_id, at, EventDraft(EventKind.OFFLINE, {}, {}, "no answer")))
            fresh.append(point_id)
            PointState.objects.filter(point_id=point_id).update(online=False, offline_since=at)
        PointState.objects.bulk_create(
            [PointState(point_id=p, online=False, offline_since=at) for p, at in marks],
            ignore_conflicts=True,
            batch_size=_ROWS_A_STATEMENT,
        )
        return events

    # -- statistics ------------------------------------------------------------

    def _write_stats(self, stats: StatsSnapshot) -> None:
        now = timezone.now()
        upsert(
            MeterCommStats,
            ["meter", *COUNTER_FIELDS],
            [(m, *dataclasses.astuple(c), now) for m, c in stats.meters.items()],
            ["meter"],
            COUNTER_FIELDS,
        )
        upsert(
            GatewayCommStats,
            ["gateway", *GATEWAY_FIELDS],
            [(g, *dataclasses.astuple(c), now) for g, c in stats.gateways.items()],
            ["gateway"],
            GATEWAY_FIELDS,
        )


def load_counters(
    meter_ids: Iterable[int], gateway_ids: Iterable[int]
) -> tuple[dict[int, Counters], dict[int, GatewayCounters]]:
    """Counters stored by earlier runs, so totals keep growing across restarts."""
    names = [f.name for f in dataclasses.fields(Counters)]
    gnames = [f.name for f in dataclasses.fields(GatewayCounters)]
    meters = {
        row.meter_id: Counters(**{n: getattr(row, n) for n in names})
        for ids in rows.in_lists(meter_ids)
        for row in MeterCommStats.objects.filter(meter_id__in=ids)
    }
    gateways = {
        row.gateway_id: GatewayCounters(**{n: getattr(row, n) for n in gnames})
        for ids in rows.in_lists(gateway_ids)
        for row in GatewayCommStats.objects.filter(gateway_id__in=ids)
    }
    return meters, gateways


def _event(point_id: int, at: datetime, draft: EventDraft) -> MeterEvent:
    return MeterEvent(
        point_id=point_id,
        kind=draft.kind,
        at=at,
        before=draft.before,
        after=draft.after,
        detail=draft.detail,
    )


def _registers(reading: Reading) -> tuple[object, ...]:
    """Values for REGISTER_FIELDS."""
    energy = reading.state.energy
    return (
        reading.point_id,
        energy.total,
        energy.sharp,
        energy.peak,
        energy.flat,
        energy.valley,
        reading.state.remaining_credit,
        reading.read_at,
    )


def _state_row(reading: Reading) -> tuple[object, ...]:
    """Values for STATE_COLUMNS."""
    state = reading.state
    phases = [*state.phases, None, None, None][:3]
    return (
        *_registers(reading),
        state.purchase_count,
        state.relay_closed,
        state.forced.value if state.forced else "",
        state.alarm1,
        state.alarm2,
        state.arrears,
        state.fault,
        *(p.voltage if p else None for p in phases),
        *(p.current if p else None for p in phases),
        state.total_active_power,
        state.power_factor,
        state.clock,
        True,
        reading.read_at,
        None,
    )
