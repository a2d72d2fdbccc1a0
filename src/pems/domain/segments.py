"""Cutting an interval of time into pieces of constant version, rate and cycle.

DST safety: all cutting happens on aware instants (UTC). Candidate cut points
are every local wall-clock time at which some schedule changes rate
(:attr:`Tariff.wall_times`; 00:00 is included, so day types, seasons and
billing cycles change there too), taken in *both* folds so a repeated hour
is cut each time it occurs, plus every UTC offset change of the zone (a wall
time skipped by a spring-forward jump takes effect at the jump) and every
version's effective instant. Each piece is then
classified by the wall-clock time of its first instant in the site zone.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from pems.domain.tariff import Tariff
from pems.domain.tiers import cycle_start
from pems.domain.tou import Rate

_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_MIDNIGHT = time(0)


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of time priced by one version at one rate within one billing cycle."""

    start: datetime
    end: datetime
    version: int
    rate: Rate
    cycle: date

    @property
    def micros(self) -> int:
        """Duration in microseconds (the weight for time-proportional allocation)."""
        return (self.end - self.start) // timedelta(microseconds=1)


@lru_cache(maxsize=65536)
def _wall_cuts(day: date, times: frozenset[time], zone: ZoneInfo) -> frozenset[datetime]:
    """UTC instants at which the wall clock of ``zone`` shows one of ``times`` on ``day``."""
    cuts: set[datetime] = set()
    for t in times:
        for fold in (0, 1):
            local = datetime.combine(day, t, tzinfo=zone).replace(fold=fold)
            instant = local.astimezone(UTC)
            back = instant.astimezone(zone)
            if (back.date(), back.time()) == (day, t):  # skip wall times that do not exist
                cuts.add(instant)
    return frozenset(cuts)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


@lru_cache(maxsize=65536)
def _offset_changes(day: date, zone: ZoneInfo) -> frozenset[datetime]:
    """UTC instants near local ``day`` where the zone's UTC offset changes."""
    low = datetime.combine(day, _MIDNIGHT, tzinfo=zone).astimezone(UTC) - timedelta(hours=3)
    high = low + _DAY + timedelta(hours=6)
    if _offset(low, zone) == _offset(high, zone):
        return frozenset()
    start_offset = _offset(low, zone)
    while high - low > _SECOND:  # offsets change on whole seconds
        middle = low + (high - low) / 2
        if _offset(middle, zone) == start_offset:
            low = middle
        else:
            high = middle
    return frozenset({low.replace(microsecond=0) + _SECOND})


@lru_cache(maxsize=65536)
def _day_cuts(day: date, times: frozenset[time], zone: ZoneInfo) -> tuple[datetime, ...]:
    """Sorted cut instants contributed by one local day."""
    return tuple(sorted(_wall_cuts(day, times, zone) | _offset_changes(day, zone)))


def cut_points(start: datetime, end: datetime, tariff: Tariff) -> list[datetime]:
    """Sorted instants strictly inside (start, end) where pricing may change."""
    zone, times = tariff.zone, tariff.wall_times
    cuts = {c for c in tariff.effective_instants if start < c < end}
    day = start.astimezone(zone).date() - _DAY
    last = end.astimezone(zone).date() + _DAY
    while day <= last:
        day_cuts = _day_cuts(day, times, zone)
        low = bisect.bisect_right(day_cuts, start)
        cuts.update(day_cuts[low : bisect.bisect_left(day_cuts, end, low)])
        day += _DAY
    return sorted(cuts)


def classify(instant: datetime, tariff: Tariff) -> tuple[int, Rate, date]:
    """(version index, rate, billing cycle) of the time from ``instant`` to the next cut point."""
    index = tariff.version_index_at(instant)
    version = tariff.versions[index]
    local = instant.astimezone(tariff.zone)
    rate = version.tou.rate_at(local, tariff.calendar) if version.tou else Rate.FLAT
    return index, rate, cycle_start(local.date(), tariff.billing_cycle)


def segments(start: datetime, end: datetime, tariff: Tariff) -> list[Segment]:
    """Pieces of [start, end) with constant (version, rate, cycle), in time order."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    bounds = [start, *cut_points(start, end, tariff), end]
    pieces: list[Segment] = []
    for a, b in itertools.pairwise(bounds):
        index, rate, cycle = classify(a, tariff)
        previous = pieces[-1] if pieces else None
        if previous and (previous.version, previous.rate, previous.cycle) == (index, rate, cycle):
            pieces[-1] = Segment(previous.start, b, index, rate, cycle)
        else:
            pieces.append(Segment(a, b, index, rate, cycle))
    return pieces
