"""RS485 timing: how long one transaction holds a half-duplex bus.

Per facts/rs485-timing.md: a character is 11 bits on the line; frames are
separated by t3.5 = 3.5 character times (fixed 1.75 ms above 19200 baud). A
transaction holds the bus for

    request bytes × char + t3.5 + turnaround + response bytes × char + t3.5

and an unanswered request for ``request bytes × char + t3.5`` (the client's
timeout runs on its side). Durations are seconds as floats: they are
timings, not money or energy.
"""

from __future__ import annotations

from dataclasses import dataclass

BITS_PER_CHAR = 11
FIXED_GAP_ABOVE_19200 = 0.00175
DEFAULT_TURNAROUND = 0.020


@dataclass(frozen=True, slots=True)
class BusTiming:
    """Timing model of one bus; ``enabled=False`` makes transactions instant (bar slow meters)."""

    baud: int
    turnaround: float = DEFAULT_TURNAROUND
    enabled: bool = True

    @property
    def char_time(self) -> float:
        """Seconds per character (11 bits)."""
        return BITS_PER_CHAR / self.baud

    @property
    def gap(self) -> float:
        """Inter-frame silence t3.5."""
        return FIXED_GAP_ABOVE_19200 if self.baud > 19200 else 3.5 * self.char_time

    def frame(self, size: int) -> float:
        """One frame of ``size`` bytes on the line, followed by its t3.5 gap."""
        return size * self.char_time + self.gap

    def transaction(
        self, request: int, response: int | None, extra_turnaround: float = 0.0
    ) -> float:
        """Bus time of one request (and its response, if the meter answers).

        ``extra_turnaround`` (a slow meter) applies even with timing disabled.
        """
        if not self.enabled:
            return extra_turnaround if response is not None else 0.0
        if response is None:
            return self.frame(request)
        return self.frame(request) + self.turnaround + extra_turnaround + self.frame(response)
