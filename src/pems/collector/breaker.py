"""Per-meter circuit breaker: a failing meter is skipped with exponential back-off.

Pure and clock-agnostic (times are monotonic seconds passed in), so a dead
meter costs one timeout per back-off window instead of one per sweep, and
the healthy meters on its bus keep their pace.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Breaker:
    """Consecutive failures and when the meter may be tried again."""

    base: float
    cap: float
    failures: int = 0
    retry_at: float = 0.0

    def allow(self, now: float) -> bool:
        """True when the meter is healthy or its back-off has elapsed (a probe)."""
        return now >= self.retry_at

    def success(self) -> None:
        """The meter answered: close the breaker."""
        self.failures = 0
        self.retry_at = 0.0

    def failure(self, now: float) -> float:
        """The meter did not answer: back off; returns the delay chosen."""
        self.failures += 1
        delay = float(min(self.cap, self.base * 2.0 ** (self.failures - 1)))
        self.retry_at = now + delay
        return delay
