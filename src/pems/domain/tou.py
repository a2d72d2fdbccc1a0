"""Time-of-use (TOU) plans: rates, day schedules, day types and seasons.

A *day schedule* splits the 24 hours of a local wall-clock day into 1..14
periods, each at one of four rates. A period may cross midnight (22:00-06:00):
the part after midnight belongs to the *next* calendar day's schedule, i.e.
every wall-clock instant is classified by the schedule of the date it falls on.
A plan picks a schedule per day type, and seasons (month-day ranges, which may
wrap the year end) replace the default schedules within their dates.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from pems.domain.calendar import DayCalendar, DayType
from pems.domain.errors import TariffError
from pems.domain.messages import Message, gettext_noop

MAX_PERIODS = 14
_DAY = timedelta(days=1)


class Rate(StrEnum):
    """The four TOU rates (尖/峰/平/谷)."""

    SHARP = "sharp"
    PEAK = "peak"
    FLAT = "flat"
    VALLEY = "valley"


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass(frozen=True)
class Period:
    """From ``start`` (inclusive) to ``end`` (exclusive) at ``rate``; end 00:00 = midnight."""

    start: time
    end: time
    rate: Rate

    @property
    def length(self) -> int:
        """Length in seconds (a period whose end equals its start lasts 24 h)."""
        return (_seconds(self.end) - _seconds(self.start)) % 86400 or 86400


@dataclass(frozen=True)
class DaySchedule:
    """Periods covering one wall-clock day exactly once."""

    periods: tuple[Period, ...]
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _ordered: tuple[Period, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.periods) <= MAX_PERIODS:
            template = gettext_noop("a day needs 1 to %(max)s periods, got %(count)s")
            raise TariffError(Message.of(template, max=MAX_PERIODS, count=len(self.periods)))
        for p in self.periods:
            if p.start.microsecond or p.end.microsecond or p.start.tzinfo or p.end.tzinfo:
                template = gettext_noop("period %(start)s-%(end)s: use whole seconds, no time zone")
                raise TariffError(Message.of(template, start=str(p.start), end=str(p.end)))
        ordered = tuple(sorted(self.periods, key=lambda p: _seconds(p.start)))
        total = sum(p.length for p in ordered)
        for here, after in zip(ordered, (*ordered[1:], ordered[0]), strict=True):
            if here.end != after.start or total != 86400:
                template = gettext_noop(
                    "periods must cover 24 h without gap or overlap: "
                    "%(period)s is followed by %(next)s"
                )
                raise TariffError(Message.of(template, period=_fmt(here), next=_fmt(after)))
        object.__setattr__(self, "_ordered", ordered)
        object.__setattr__(self, "_starts", tuple(_seconds(p.start) for p in ordered))

    def rate_at(self, t: time) -> Rate:
        """The rate in force at wall-clock time ``t``."""
        index = bisect.bisect_right(self._starts, _seconds(t)) - 1
        return self._ordered[index].rate  # index -1: the period crossing midnight

    @property
    def rates(self) -> frozenset[Rate]:
        """Rates used by this schedule."""
        return frozenset(p.rate for p in self.periods)

    @property
    def boundaries(self) -> frozenset[time]:
        """Wall-clock times at which the rate may change."""
        return frozenset(p.start for p in self.periods)


def _fmt(p: Period) -> str:
    return f"{p.start:%H:%M:%S}-{p.end:%H:%M:%S} {p.rate}"


@dataclass(frozen=True)
class DayTypeSchedules:
    """One day schedule per day type."""

    workday: DaySchedule
    weekend: DaySchedule
    holiday: DaySchedule

    def for_day_type(self, day_type: DayType) -> DaySchedule:
        """The schedule of ``day_type``."""
        return {
            DayType.WORKDAY: self.workday,
            DayType.WEEKEND: self.weekend,
            DayType.HOLIDAY: self.holiday,
        }[day_type]

    @property
    def all(self) -> tuple[DaySchedule, DaySchedule, DaySchedule]:
        """The three schedules."""
        return (self.workday, self.weekend, self.holiday)

    @property
    def uniform(self) -> bool:
        """True when every day type has the same schedule (no calendar needed)."""
        return self.workday == self.weekend == self.holiday


MonthDay = tuple[int, int]


@dataclass(frozen=True)
class Season:
    """Schedules in force from ``start`` to ``end`` (month, day), both inclusive."""

    name: str
    start: MonthDay
    end: MonthDay
    schedules: DayTypeSchedules

    def __post_init__(self) -> None:
        for md in (self.start, self.end):
            try:
                date(2000, *md)  # a leap year accepts 02-29
            except (TypeError, ValueError):
                template = gettext_noop("season %(season)s: %(value)s is not a month-day")
                raise TariffError(Message.of(template, season=self.name, value=str(md))) from None

    def contains(self, day: date) -> bool:
        """Whether ``day`` lies in the season (ranges may wrap the year end)."""
        md = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end


@dataclass(frozen=True)
class TouPlan:
    """Default schedules plus non-overlapping seasons."""

    default: DayTypeSchedules
    seasons: tuple[Season, ...] = ()

    def __post_init__(self) -> None:
        day = date(2000, 1, 1)
        while day.year == 2000:  # every month-day of a leap year
            owners = [s.name for s in self.seasons if s.contains(day)]
            if len(owners) > 1:
                template = gettext_noop("seasons %(seasons)s overlap on %(day)s")
                message = Message.of(template, seasons=str(owners), day=f"{day:%m-%d}")
                raise TariffError(message)
            day += _DAY

    def schedules_for(self, day: date) -> DayTypeSchedules:
        """The schedules in force on a local date."""
        for season in self.seasons:
            if season.contains(day):
                return season.schedules
        return self.default

    def needs_day_type(self, day: date) -> bool:
        """Whether pricing ``day`` asks the calendar for its day type (see :meth:`rate_at`)."""
        return not self.schedules_for(day).uniform

    def rate_at(self, local: datetime, calendar: DayCalendar) -> Rate:
        """The rate at a site-local wall-clock datetime."""
        schedules = self.schedules_for(local.date())
        if schedules.uniform:
            return schedules.workday.rate_at(local.time())
        return schedules.for_day_type(calendar.day_type(local.date())).rate_at(local.time())

    def _all_schedules(self) -> list[DaySchedule]:
        groups = [self.default, *(s.schedules for s in self.seasons)]
        return [sched for g in groups for sched in g.all]

    @property
    def rates(self) -> frozenset[Rate]:
        """Every rate the plan can charge."""
        return frozenset().union(*(s.rates for s in self._all_schedules()))

    @property
    def boundaries(self) -> frozenset[time]:
        """Every wall-clock time at which some schedule changes rate."""
        return frozenset().union(*(s.boundaries for s in self._all_schedules()))
