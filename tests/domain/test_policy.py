"""Prepaid policy: alarm levels, trip/close with hysteresis, keep-power, idempotency."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pems.domain.calendar import DayCalendar, DayType
from pems.domain.money import Money
from pems.domain.policy import (
    AlarmLevel,
    EventKind,
    KeepPower,
    KeepPowerWindow,
    PolicyState,
    RelayCommand,
    RelayState,
    Thresholds,
    alarm_level,
    decide,
)
from tests.domain.helpers import SHANGHAI

CAL = DayCalendar()
NOON = datetime(2025, 9, 30, 12, tzinfo=SHANGHAI)  # an ordinary Tuesday
NO_KEEP = KeepPower()


def cny(cents: int) -> Money:
    return Money(Decimal(cents).scaleb(-2), "CNY")


# alarm 1 at 50.00, alarm 2 at 20.00, overdraft 10.00, reconnect above 5.00
LIMITS = Thresholds(cny(5000), cny(2000), cny(1000), cny(500))


@pytest.mark.parametrize(
    ("cents", "level"),
    [
        (5001, AlarmLevel.NONE),
        (5000, AlarmLevel.ALARM_1),
        (2001, AlarmLevel.ALARM_1),
        (2000, AlarmLevel.ALARM_2),
        (1, AlarmLevel.ALARM_2),
        (0, AlarmLevel.DEPLETED),
        (-900, AlarmLevel.DEPLETED),
    ],
)
def test_alarm_levels(cents: int, level: AlarmLevel) -> None:
    assert alarm_level(cny(cents), LIMITS) is level


@pytest.mark.parametrize(
    ("cents", "relay", "command"),
    [
        (-999, RelayState.CLOSED, None),  # in overdraft, not yet at the limit
        (-1000, RelayState.CLOSED, RelayCommand.TRIP),  # at -overdraft: trip
        (0, RelayState.OPEN, None),  # tripped; topped up but not above the reconnect minimum
        (500, RelayState.OPEN, None),  # exactly the minimum is not above it
        (501, RelayState.OPEN, RelayCommand.CLOSE),
        (100, RelayState.CLOSED, None),  # closed and between thresholds: stays closed
    ],
)
def test_trip_and_close_with_hysteresis(
    cents: int, relay: RelayState, command: RelayCommand | None
) -> None:
    decision = decide(
        PolicyState(cny(cents), relay, alarm_level(cny(cents), LIMITS)),
        LIMITS,
        NO_KEEP,
        NOON,
        SHANGHAI,
        CAL,
    )
    assert decision.command is command
    assert [e.kind for e in decision.events] == (
        []
        if command is None
        else [
            EventKind.TRIP_REQUESTED if command is RelayCommand.TRIP else EventKind.CLOSE_REQUESTED
        ]
    )


def test_without_overdraft_the_meter_trips_at_zero() -> None:
    strict = Thresholds(cny(5000), cny(2000), cny(0), cny(0))
    at_zero = PolicyState(cny(0), RelayState.CLOSED, AlarmLevel.DEPLETED)
    assert decide(at_zero, strict, NO_KEEP, NOON, SHANGHAI, CAL).command is RelayCommand.TRIP
    cent = PolicyState(cny(1), RelayState.OPEN, AlarmLevel.DEPLETED)
    assert decide(cent, strict, NO_KEEP, NOON, SHANGHAI, CAL).command is RelayCommand.CLOSE


def test_a_pending_command_is_not_repeated() -> None:
    state = PolicyState(
        cny(-2000), RelayState.CLOSED, AlarmLevel.DEPLETED, pending=RelayCommand.TRIP
    )
    assert decide(state, LIMITS, NO_KEEP, NOON, SHANGHAI, CAL).command is None


def test_alarm_changes_produce_one_event_each() -> None:
    first = decide(
        PolicyState(cny(1500), RelayState.CLOSED, AlarmLevel.NONE),
        LIMITS,
        NO_KEEP,
        NOON,
        SHANGHAI,
        CAL,
    )
    assert [(e.kind, e.alarm) for e in first.events] == [
        (EventKind.ALARM_RAISED, AlarmLevel.ALARM_2)
    ]
    again = decide(
        PolicyState(cny(1400), RelayState.CLOSED, first.alarm), LIMITS, NO_KEEP, NOON, SHANGHAI, CAL
    )
    assert again.events == ()
    recovered = decide(
        PolicyState(cny(9000), RelayState.CLOSED, again.alarm), LIMITS, NO_KEEP, NOON, SHANGHAI, CAL
    )
    assert [e.kind for e in recovered.events] == [EventKind.ALARM_CLEARED]


NIGHTS = KeepPowerWindow(time(22), time(6))
HOLIDAYS = KeepPowerWindow(time(0), time(0), frozenset({DayType.HOLIDAY}))


@pytest.mark.parametrize(
    ("now", "kept"),
    [
        (datetime(2025, 9, 30, 23, tzinfo=SHANGHAI), True),  # night
        (datetime(2025, 9, 30, 5, 59, tzinfo=SHANGHAI), True),
        (datetime(2025, 9, 30, 6, tzinfo=SHANGHAI), False),
        (datetime(2025, 10, 1, 12, tzinfo=SHANGHAI), True),  # National Day
        (datetime(2025, 9, 28, 12, tzinfo=SHANGHAI), False),  # Sunday make-up workday
    ],
)
def test_keep_power_schedules_beat_automatic_trips(now: datetime, kept: bool) -> None:
    keep = KeepPower(windows=(NIGHTS, HOLIDAYS))
    decision = decide(
        PolicyState(cny(-5000), RelayState.CLOSED, AlarmLevel.DEPLETED),
        LIMITS,
        keep,
        now,
        SHANGHAI,
        CAL,
    )
    assert decision.keep_power is kept
    assert decision.command is (None if kept else RelayCommand.TRIP)


def test_keep_power_closes_a_tripped_meter_but_not_a_manual_trip() -> None:
    keep = KeepPower(always=True)
    tripped = PolicyState(cny(-5000), RelayState.OPEN, AlarmLevel.DEPLETED)
    assert decide(tripped, LIMITS, keep, NOON, SHANGHAI, CAL).command is RelayCommand.CLOSE
    manual = PolicyState(cny(9000), RelayState.OPEN, AlarmLevel.NONE, manual_open=True)
    assert decide(manual, LIMITS, keep, NOON, SHANGHAI, CAL).command is None


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValueError, match="alarm_1 > alarm_2"):
        Thresholds(cny(100), cny(200), cny(0), cny(0))
    with pytest.raises(ValueError, match=">= 0"):
        Thresholds(cny(200), cny(100), cny(-1), cny(0))


@given(
    st.lists(st.integers(min_value=-3000, max_value=8000), min_size=1, max_size=60),
    st.booleans(),
)
def test_policy_never_flaps(balances: list[int], kept: bool) -> None:
    """Replaying random balances: commands alternate, and only on crossing the thresholds."""
    keep = KeepPower(always=kept)
    relay, alarm = RelayState.CLOSED, AlarmLevel.NONE
    commands: list[RelayCommand] = []
    for cents in balances:
        state = PolicyState(cny(cents), relay, alarm)
        decision = decide(state, LIMITS, keep, NOON, SHANGHAI, CAL)
        # Deciding twice on the same state is idempotent.
        assert decide(state, LIMITS, keep, NOON, SHANGHAI, CAL) == decision
        if decision.command is RelayCommand.TRIP:
            assert not kept
            assert cents <= -1000
        if decision.command is RelayCommand.CLOSE:
            assert cents > 500
            assert relay is RelayState.OPEN
        if decision.command is not None:
            assert not commands or commands[-1] is not decision.command  # strictly alternating
            commands.append(decision.command)
            relay = decision.command.target
        # The meter read back with the new state: no further command for the same balance.
        assert (
            decide(
                PolicyState(cny(cents), relay, decision.alarm), LIMITS, keep, NOON, SHANGHAI, CAL
            ).command
            is None
        )
        alarm = decision.alarm
    if kept:
        assert commands == []
