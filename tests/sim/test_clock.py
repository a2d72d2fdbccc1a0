"""Simulated time: scaled real time (--speed) and the manual test clock."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from pems.sim.clock import ManualClock, ScaledClock, from_ms, to_ms

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_speed_makes_simulated_time_run_faster() -> None:
    clock = ScaledClock(START, speed=3600)
    time.sleep(0.05)
    elapsed = clock.now() - START
    assert elapsed >= dt.timedelta(minutes=3)  # 0.05 s × 3600 = 180 s at least
    assert elapsed < dt.timedelta(hours=2)


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(START)
    clock.advance(dt.timedelta(hours=1, milliseconds=5))
    assert clock.now() == START + dt.timedelta(hours=1, milliseconds=5)
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(dt.timedelta(seconds=-1))


def test_epoch_milliseconds_round_trip_and_need_aware_times() -> None:
    moment = dt.datetime(2026, 3, 2, 8, 30, 15, 123000, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert from_ms(to_ms(moment)) == moment
    with pytest.raises(ValueError, match="aware"):
        to_ms(dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(START, speed=0)
