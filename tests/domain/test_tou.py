"""Day schedules: full cover of 24 h, periods crossing midnight, seasons."""

from __future__ import annotations

from datetime import date, time

import pytest

from pems.domain.errors import TariffError
from pems.domain.tou import DaySchedule, DayTypeSchedules, Period, Rate, Season, TouPlan

V, F, P = Rate.VALLEY, Rate.FLAT, Rate.PEAK


def day(*periods: tuple[int, int, Rate]) -> DaySchedule:
    return DaySchedule(tuple(Period(time(a), time(b), r) for a, b, r in periods))


def test_a_period_crossing_midnight_covers_both_ends_of_the_day() -> None:
    schedule = day((22, 8, V), (8, 22, F))
    assert schedule.rate_at(time(23, 59)) is V
    assert schedule.rate_at(time(0)) is V
    assert schedule.rate_at(time(7, 59, 59)) is V
    assert schedule.rate_at(time(8)) is F
    assert schedule.rate_at(time(21, 59)) is F


@pytest.mark.parametrize(
    ("periods", "message"),
    [
        (((0, 8, V), (9, 0, F)), "without gap or overlap"),  # 08:00-09:00 missing
        (((0, 10, V), (8, 0, F)), "without gap or overlap"),  # overlap
        ((*tuple((h, h + 1, F) for h in range(15)), (15, 0, V)), "1 to 14 periods"),
    ],
)
def test_bad_day_schedules_are_refused(
    periods: tuple[tuple[int, int, Rate], ...], message: str
) -> None:
    with pytest.raises(TariffError, match=message):
        day(*periods)


def test_fourteen_periods_are_allowed() -> None:
    schedule = day(*((h, h + 1, [V, F, P, Rate.SHARP][h % 4]) for h in range(13)), (13, 0, F))
    assert len(schedule.periods) == 14


def test_seasons_may_wrap_the_year_and_must_not_overlap() -> None:
    plain = DayTypeSchedules(day((0, 0, F)), day((0, 0, F)), day((0, 0, F)))
    winter_day = day((0, 0, P))
    winter = Season(
        "winter", (11, 15), (3, 15), DayTypeSchedules(winter_day, winter_day, winter_day)
    )
    plan = TouPlan(plain, (winter,))
    assert plan.schedules_for(date(2025, 1, 10)).workday is winter_day
    assert plan.schedules_for(date(2025, 11, 15)).workday is winter_day
    assert plan.schedules_for(date(2025, 3, 16)).workday == day((0, 0, F))
    with pytest.raises(TariffError, match="overlap on 03-01"):
        TouPlan(plain, (winter, Season("spring", (3, 1), (5, 31), plain)))
