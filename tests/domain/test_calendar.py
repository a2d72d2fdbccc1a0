"""Day types from the Chinese statutory calendar (chinesecalendar 1.11.0 knows 2004-2026)."""

from __future__ import annotations

from datetime import date
from types import MappingProxyType

import pytest

from pems.domain.calendar import DayCalendar, DayType
from pems.domain.errors import CalendarRangeError


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 10, 1), DayType.HOLIDAY),  # National Day (Wednesday)
        (date(2025, 9, 28), DayType.WORKDAY),  # Sunday, make-up workday (调休) for National Day
        (date(2025, 10, 11), DayType.WORKDAY),  # Saturday, make-up workday
        (date(2025, 9, 27), DayType.WEEKEND),  # an ordinary Saturday
        (date(2025, 9, 30), DayType.WORKDAY),  # an ordinary Tuesday
        (date(2026, 2, 17), DayType.HOLIDAY),  # Spring Festival 2026
        (date(2026, 2, 14), DayType.WORKDAY),  # Saturday, make-up workday for Spring Festival
        (date(2026, 10, 3), DayType.HOLIDAY),  # a Saturday inside the National Day holiday
    ],
)
def test_chinese_calendar_day_types(day: date, expected: DayType) -> None:
    assert DayCalendar().day_type(day) is expected


def test_overrides_win_over_the_national_calendar() -> None:
    calendar = DayCalendar(
        overrides=MappingProxyType(
            {date(2025, 12, 25): DayType.HOLIDAY, date(2025, 10, 1): DayType.WORKDAY}
        )
    )
    assert calendar.day_type(date(2025, 12, 25)) is DayType.HOLIDAY
    assert calendar.day_type(date(2025, 10, 1)) is DayType.WORKDAY


def test_unknown_years_raise_unless_fallback_is_allowed() -> None:
    with pytest.raises(CalendarRangeError, match="2031-05-01"):
        DayCalendar().day_type(date(2031, 5, 1))
    fallback = DayCalendar(fallback_to_weekends=True)
    assert fallback.day_type(date(2031, 5, 1)) is DayType.WORKDAY  # a Thursday
    assert fallback.day_type(date(2031, 5, 3)) is DayType.WEEKEND


def test_without_chinese_holidays_only_weekends_count() -> None:
    assert DayCalendar(chinese_holidays=False).day_type(date(2025, 10, 1)) is DayType.WORKDAY
