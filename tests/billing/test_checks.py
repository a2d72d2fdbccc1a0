"""`pems check` warns when the holiday calendar is about to run out."""

from __future__ import annotations

import datetime as dt

import time_machine

from pems.billing.checks import holiday_calendar_horizon
from pems.domain.calendar import last_known_year


def test_no_warning_while_the_calendar_covers_this_year_and_it_is_not_yet_november():
    known = last_known_year()
    with time_machine.travel(dt.datetime(known, 6, 1, 12, tzinfo=dt.UTC), tick=False):
        assert holiday_calendar_horizon() == []


def test_a_warning_from_november_when_next_year_is_unknown():
    known = last_known_year()
    with time_machine.travel(dt.datetime(known, 11, 23, 12, tzinfo=dt.UTC), tick=False):
        (warning,) = holiday_calendar_horizon()
    assert warning.id == "pems.W001"
    assert f"up to {known} only" in warning.msg
    assert f"{known + 1}-01-01" in warning.msg
