"""The RS485 timing model, table-driven against facts/rs485-timing.md."""

from __future__ import annotations

import pytest

from pems.sim.timing import BusTiming


@pytest.mark.parametrize(
    ("baud", "char_ms", "gap_ms"),
    [
        (9600, 1.1458, 4.0104),
        (19200, 0.5729, 2.0052),
        (38400, 0.2865, 1.75),
        (2400, 4.5833, 16.0417),
    ],
)
def test_character_time_and_t35(baud: int, char_ms: float, gap_ms: float) -> None:
    timing = BusTiming(baud)
    assert timing.char_time * 1000 == pytest.approx(char_ms, abs=1e-4)
    assert timing.gap * 1000 == pytest.approx(gap_ms, abs=1e-4)


def test_read_of_40_registers_at_9600_matches_the_facts() -> None:
    # facts: (8 + 85) × 1.146 ms + 2 × t3.5 ≈ 115 ms on the wire, plus turnaround.
    timing = BusTiming(9600, turnaround=0.0)
    assert timing.transaction(8, 85) == pytest.approx(0.1146, abs=0.0005)
    assert BusTiming(9600).transaction(8, 85) == pytest.approx(0.1346, abs=0.0005)


def test_unanswered_request_holds_the_bus_for_the_request_only() -> None:
    timing = BusTiming(9600)
    assert timing.transaction(8, None) == pytest.approx(8 * 11 / 9600 + 3.5 * 11 / 9600)


def test_disabled_timing_keeps_only_a_slow_meters_delay() -> None:
    timing = BusTiming(9600, enabled=False)
    assert timing.transaction(8, 101) == 0.0
    assert timing.transaction(8, 101, extra_turnaround=0.3) == 0.3
    assert timing.transaction(8, None, extra_turnaround=0.3) == 0.0
