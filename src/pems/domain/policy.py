"""Prepaid control policy: alarm levels and the desired relay state.

Rules (pure, idempotent):

* Alarm level: DEPLETED when balance <= 0, else ALARM_2 when balance <=
  alarm_2, else ALARM_1 when balance <= alarm_1, else NONE. A change of level
  against the last notified level yields one event.
* Trip when balance <= -overdraft_limit (at zero when the limit is 0).
* A tripped relay closes only when balance > reconnect_minimum (hysteresis:
  between the two thresholds the relay keeps whatever state it has).
* Keep-power (a flag, or a schedule window in force now) beats automatic
  trips: the relay is wanted closed. An operator's manual trip beats both:
  automatic control never closes a manually opened relay.
* A command is issued only when the wanted state differs from the relay's
  effective state (the pending command's target if one is in flight, else
  the read-back state), so repeating a decision never repeats a command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import IntEnum, StrEnum
from zoneinfo import ZoneInfo

from pems.domain.calendar import DayCalendar, DayType
from pems.domain.money import Money


class AlarmLevel(IntEnum):
    """Low-credit warning levels, ordered by severity."""

    NONE = 0
    ALARM_1 = 1
    ALARM_2 = 2
    DEPLETED = 3  # zero or arrears


class RelayState(StrEnum):
    """State of a meter's load relay."""

    CLOSED = "closed"
    OPEN = "open"


class RelayCommand(StrEnum):
    """Command to a meter's relay."""

    TRIP = "trip"
    CLOSE = "close"

    @property
    def target(self) -> RelayState:
        """The relay state this command produces."""
        return RelayState.OPEN if self is RelayCommand.TRIP else RelayState.CLOSED


@dataclass(frozen=True)
class Thresholds:
    """Credit thresholds of an account, all in the account currency."""

    alarm_1: Money
    alarm_2: Money
    overdraft_limit: Money
    reconnect_minimum: Money

    def __post_init__(self) -> None:
        zero = Money.zero(self.alarm_1.currency)
        if not self.alarm_1 > self.alarm_2 >= zero:
            raise ValueError(f"need alarm_1 > alarm_2 >= 0, got {self.alarm_1} and {self.alarm_2}")
        if self.overdraft_limit < zero or self.reconnect_minimum < zero:
            raise ValueError("overdraft_limit and reconnect_minimum must be >= 0")


@dataclass(frozen=True)
class KeepPowerWindow:
    """Keep power from ``start`` to ``end`` (wall clock) on days of ``day_types``.

    ``start == end`` means the whole day. A window crossing midnight is judged
    per instant by the day type of that instant's own date (as TOU periods).
    """

    start: time
    end: time
    day_types: frozenset[DayType] = frozenset(DayType)

    def active_at(self, local: datetime, calendar: DayCalendar) -> bool:
        """Whether the window covers a site-local datetime."""
        now = local.time().replace(tzinfo=None)
        if self.start == self.end:
            inside = True
        elif self.start < self.end:
            inside = self.start <= now < self.end
        else:
            inside = now >= self.start or now < self.end
        if not inside:
            return False
        if self.day_types == frozenset(DayType):
            return True
        return calendar.day_type(local.date()) in self.day_types


@dataclass(frozen=True)
class KeepPower:
    """Keep-power (保电): always, or during schedule windows."""

    always: bool = False
    windows: tuple[KeepPowerWindow, ...] = ()

    def active(self, now: datetime, zone: ZoneInfo, calendar: DayCalendar) -> bool:
        """Whether keep-power is in force at the aware instant ``now``."""
        if self.always:
            return True
        local = now.astimezone(zone)
        return any(w.active_at(local, calendar) for w in self.windows)


@dataclass(frozen=True)
class PolicyState:
    """What is known about a metering point when deciding."""

    balance: Money
    relay: RelayState
    alarm: AlarmLevel = AlarmLevel.NONE
    pending: RelayCommand | None = None
    manual_open: bool = False


class EventKind(StrEnum):
    """Kinds of policy event."""

    ALARM_RAISED = "alarm_raised"
    ALARM_CLEARED = "alarm_cleared"
    TRIP_REQUESTED = "trip_requested"
    CLOSE_REQUESTED = "close_requested"


@dataclass(frozen=True)
class PolicyEvent:
    """Something worth recording or notifying, with the balance that caused it."""

    kind: EventKind
    balance: Money
    alarm: AlarmLevel
    reason: str


@dataclass(frozen=True)
class Decision:
    """The policy's answer: alarm level, wanted relay state, command and events."""

    alarm: AlarmLevel
    desired_relay: RelayState
    command: RelayCommand | None
    events: tuple[PolicyEvent, ...]
    keep_power: bool


def alarm_level(balance: Money, thresholds: Thresholds) -> AlarmLevel:
    """The alarm level of a balance."""
    if balance.amount <= 0:
        return AlarmLevel.DEPLETED
    if balance <= thresholds.alarm_2:
        return AlarmLevel.ALARM_2
    if balance <= thresholds.alarm_1:
        return AlarmLevel.ALARM_1
    return AlarmLevel.NONE


def alarm_change(
    balance: Money, thresholds: Thresholds, last: AlarmLevel
) -> tuple[AlarmLevel, PolicyEvent | None]:
    """The alarm level of ``balance``, and the event announcing it if it differs from ``last``."""
    level = alarm_level(balance, thresholds)
    if level == last:
        return level, None
    kind = EventKind.ALARM_RAISED if level > last else EventKind.ALARM_CLEARED
    return level, PolicyEvent(kind, balance, level, f"{last.name} -> {level.name}")


def _desired(state: PolicyState, thresholds: Thresholds, kept: bool) -> tuple[RelayState, str]:
    effective = state.pending.target if state.pending else state.relay
    if state.manual_open:
        return RelayState.OPEN, "opened by an operator"
    if kept:
        return RelayState.CLOSED, "keep-power in force"
    if state.balance <= -thresholds.overdraft_limit:
        return RelayState.OPEN, f"balance {state.balance} <= -{thresholds.overdraft_limit}"
    if effective is RelayState.OPEN and state.balance <= thresholds.reconnect_minimum:
        return RelayState.OPEN, f"balance {state.balance} <= {thresholds.reconnect_minimum}"
    return RelayState.CLOSED, f"balance {state.balance} above the trip threshold"


def decide(
    state: PolicyState,
    thresholds: Thresholds,
    keep_power: KeepPower,
    now: datetime,
    zone: ZoneInfo,
    calendar: DayCalendar,
) -> Decision:
    """Decide alarm level, wanted relay state and any command for a metering point."""
    level, change = alarm_change(state.balance, thresholds, state.alarm)
    events = [] if change is None else [change]
    kept = keep_power.active(now, zone, calendar)
    desired, reason = _desired(state, thresholds, kept)
    effective = state.pending.target if state.pending else state.relay
    command = None
    if desired is not effective:
        command = RelayCommand.TRIP if desired is RelayState.OPEN else RelayCommand.CLOSE
        kind = (
            EventKind.TRIP_REQUESTED if command is RelayCommand.TRIP else EventKind.CLOSE_REQUESTED
        )
        events.append(PolicyEvent(kind, state.balance, level, reason))
    return Decision(level, desired, command, tuple(events), kept)
