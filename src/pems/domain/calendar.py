"""Day types (workday / weekend / holiday) for tariffs and keep-power schedules.

Chinese public holidays and make-up workdays (调休) come from the pinned
``chinese_calendar`` library; a site may add or correct dates with explicit
overrides, which always win. Years the library does not know raise
:class:`CalendarRangeError` unless the calendar is told to fall back to plain
Saturday/Sunday weekends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType

import chinese_calendar

from pems.domain.errors import CalendarRangeError


class DayType(StrEnum):
    """Kind of calendar day, as far as tariffs and schedules care."""

    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"


def _weekday_type(day: date) -> DayType:
    return DayType.WEEKEND if day.isoweekday() >= 6 else DayType.WORKDAY


@lru_cache(maxsize=8192)
def _chinese_day_type(day: date) -> DayType | None:
    """The library's answer, or None for a year it does not know."""
    try:
        if chinese_calendar.is_workday(day):
            return DayType.WORKDAY  # includes make-up workdays on weekends
        _, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return DayType.WEEKEND if name is None else DayType.HOLIDAY


def last_known_year() -> int:
    """The last year whose public holidays the installed library knows."""
    year = date.today().year - 1  # noqa: DTZ011 — a calendar year, the zone does not matter
    while _chinese_day_type(date(year + 1, 12, 31)) is not None:
        year += 1
    while _chinese_day_type(date(year, 12, 31)) is None:
        year -= 1
    return year


@dataclass(frozen=True)
class DayCalendar:
    """Decides the :class:`DayType` of a local date.

    ``chinese_holidays``: use the statutory Chinese calendar (holidays and
    make-up workdays); otherwise Saturday and Sunday are weekends and every
    other day a workday. ``overrides`` fixes single dates (local holidays,
    corrections, new years' official notices). ``fallback_to_weekends`` lets
    years unknown to the library use plain weekends instead of raising.
    """

    chinese_holidays: bool = True
    overrides: Mapping[date, DayType] = field(default_factory=lambda: MappingProxyType({}))
    fallback_to_weekends: bool = False

    def day_type(self, day: date) -> DayType:
        """The day type of ``day`` (a site-local date)."""
        override = self.overrides.get(day)
        if override is not None:
            return override
        if not self.chinese_holidays:
            return _weekday_type(day)
        known = _chinese_day_type(day)
        if known is not None:
            return known
        if self.fallback_to_weekends:
            return _weekday_type(day)
        raise CalendarRangeError(
            f"the holiday calendar does not know {day.isoformat()}; add the year's dates as "
            "overrides, upgrade chinesecalendar, or allow fallback to weekends"
        )
