"""Simulated time: real time scaled by ``--speed``, or a manual clock for tests.

Meters evolve lazily from the clock, so the clock is the only thing that
"ticks". Times are integer milliseconds since the Unix epoch (UTC): cheap to
compare and exact; :meth:`Clock.now` gives the aware datetime.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_ms(moment: dt.datetime) -> int:
    """Aware datetime → epoch milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("simulated time needs an aware datetime")
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(ms: int) -> dt.datetime:
    """Epoch milliseconds → aware UTC datetime."""
    return EPOCH + dt.timedelta(milliseconds=ms)


class Clock(Protocol):
    """What meters need from time: simulated now, in epoch ms, never going back."""

    def now_ms(self) -> int:
        """Simulated now in epoch milliseconds."""
        ...


class ScaledClock:
    """Simulated time = ``start`` + real elapsed time × ``speed``."""

    def __init__(self, start: dt.datetime | None = None, speed: int = 1) -> None:
        if speed < 1:
            raise ValueError("speed must be a whole number ≥ 1")
        self.speed = speed
        self._start_ms = to_ms(start or dt.datetime.now(dt.UTC))
        self._mono0 = time.monotonic_ns()

    def now_ms(self) -> int:
        """Simulated now."""
        return self._start_ms + (time.monotonic_ns() - self._mono0) // 1_000_000 * self.speed

    def now(self) -> dt.datetime:
        """Simulated now as an aware UTC datetime."""
        return from_ms(self.now_ms())


class ManualClock:
    """A clock that moves only when told to (deterministic tests)."""

    def __init__(self, start: dt.datetime) -> None:
        self._ms = to_ms(start)

    def now_ms(self) -> int:
        """Simulated now."""
        return self._ms

    def now(self) -> dt.datetime:
        """Simulated now as an aware UTC datetime."""
        return from_ms(self._ms)

    def advance(self, delta: dt.timedelta) -> None:
        """Move time forward (never back: meters only integrate forward)."""
        step = delta // dt.timedelta(milliseconds=1)
        if step < 0:
            raise ValueError("a simulated clock never goes back")
        self._ms += step
