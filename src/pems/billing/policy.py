"""Apply the prepaid policy to an account: alarm events once, trip/close commands once.

The decision itself is pure (``pems.domain.policy``); this module gathers its
inputs (balance, thresholds, keep-power, relay state, commands in flight),
records the alarm level and events, and queues relay commands through
``pems.control.actions``. Run it after anything that moves a balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from pems.accounts.models import Account
from pems.billing.models import KeepPowerPeriod, PrepaidEvent, PrepaidState
from pems.control import actions as control
from pems.control.models import Command, CommandKind, CommandStatus
from pems.core import rows
from pems.core.bulk import update_many
from pems.domain.calendar import DayCalendar
from pems.domain.money import Money
from pems.domain.policy import (
    AlarmLevel,
    KeepPower,
    PolicyEvent,
    PolicyState,
    RelayCommand,
    RelayState,
    Thresholds,
    alarm_change,
    decide,
)
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart

_RELAY_KINDS = {CommandKind.TRIP: RelayCommand.TRIP, CommandKind.CLOSE: RelayCommand.CLOSE}
#: The command kinds that set a relay (what ``relay_of`` looks for).
RELAY_COMMAND_KINDS = tuple(_RELAY_KINDS)
#: Orders that hand a person's trip back: power kept on, or prepaid control resumed.
_RELEASES = [CommandKind.KEEP_POWER_ON, CommandKind.RESUME_PREPAID]
_IN_FLIGHT = [CommandStatus.PENDING, CommandStatus.SENT]
_STATE_READ = ("state__point", "state__relay_closed", "state__read_at")


def thresholds_of(account: Account) -> Thresholds:
    currency = account.tenant.site.currency
    values = account.effective_thresholds()
    return Thresholds(
        alarm_1=Money(values["alarm1"], currency),
        alarm_2=Money(values["alarm2"], currency),
        overdraft_limit=Money(values["overdraft"], currency),
        reconnect_minimum=Money(values["reconnect"], currency),
    )


@transaction.atomic
def apply_policy(
    account: Account, now: datetime | None = None, actor: Any = "policy"
) -> list[Command]:
    """Decide and act for every server-side point of an open account; returns queued commands."""
    locked = (
        Account.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant__site")
        .get(pk=account.pk)
    )
    if not locked.is_open:
        return []
    return act(locked, read_inputs(locked), now=now, actor=actor)


@dataclass(frozen=True)
class Inputs:
    """What the policy reads besides the balance: the alarm state (locked) and each relay."""

    state: PrepaidState
    relays: list[tuple[MeteringPoint, Relay]]


def read_inputs(locked: Account, points: list[MeteringPoint] | None = None) -> Inputs:
    """The policy's reads, for a caller holding the account row.

    A sale reads them before it posts, so the shared ledger rows it then locks
    are held only for its writes.
    """
    state, _ = PrepaidState.objects.select_for_update().get_or_create(account=locked)
    relays = [
        (point, relay_of(point))
        for point in (active_points(locked) if points is None else points)
        if point.fee_control == FeeControl.SERVER_SIDE
    ]
    return Inputs(state, relays)


def act(
    locked: Account,
    inputs: Inputs,
    balance: Money | None = None,
    now: datetime | None = None,
    actor: Any = "policy",
    meter_credit: Money | None = None,
) -> list[Command]:
    """Decide on ``inputs`` and the balance (read if not given); record and queue what follows.

    ``meter_credit`` is, for an account paying for no server-side point, the credit
    the tenant can still use with what its meter holds (as ``announce_alarms`` is
    given it): its alarm level is judged from it. Without it such an account's
    level is left as it is (the wallet alone says nothing of its meter).
    """
    now = now or timezone.now()
    site = locked.tenant.site
    if balance is None:
        wallet = chart.wallet(locked)
        balance = Money(wallet.balance, wallet.currency)
    thresholds = thresholds_of(locked)
    # With no relay to decide (a meter-side account) keep-power changes nothing.
    keep = _keep_power(locked, balance, thresholds) if inputs.relays else KeepPower()
    queued: list[Command] = []
    level = AlarmLevel(inputs.state.alarm)
    if meter_credit is not None and not inputs.relays:
        level, change = alarm_change(meter_credit, thresholds, level)
        if change is not None:
            _record(locked, None, change, now)
        balance = meter_credit
    for point, relay in inputs.relays:
        decision = decide(
            PolicyState(balance, relay.state, level, relay.pending, relay.person_tripped),
            thresholds,
            keep,
            now,
            ZoneInfo(site.time_zone),
            _SCHEDULE_CALENDAR,
        )
        for event in decision.events:  # alarm changes come with the first point only
            _record(locked, None if event.kind.startswith("alarm") else point, event, now)
        if decision.command is not None:
            kind = CommandKind.TRIP if decision.command is RelayCommand.TRIP else CommandKind.CLOSE
            reason = decision.events[-1].reason
            queued.append(control.enqueue(point, kind, actor=actor, reason=reason, by_policy=True))
        level = decision.alarm
    rows.update(PrepaidState, inputs.state.pk, alarm=level, balance=balance.amount, decided_at=now)
    return queued


#: The day types keep-power periods are judged by. A year the holiday library does not know
#: yet counts plain weekends (the system check warns) rather than stopping every decision.
_SCHEDULE_CALENDAR = DayCalendar(fallback_to_weekends=True)


def _keep_power(locked: Account, balance: Money, thresholds: Thresholds) -> KeepPower:
    """The account's keep-power flag, and its site's keep-power periods when they may matter.

    Only a balance at or below the reconnect minimum can trip a relay or hold
    one open, so a sale that leaves more reads no schedule.
    """
    if locked.keep_power or balance > thresholds.reconnect_minimum:
        return KeepPower(always=locked.keep_power)
    periods = KeepPowerPeriod.objects.filter(site_id=locked.tenant.site_id)
    return KeepPower(windows=tuple(period.window() for period in periods))


def sites_keeping_power(site_ids: Iterable[int], now: datetime | None = None) -> set[int]:
    """Which of the sites have a keep-power period in force at ``now`` (one query)."""
    now = now or timezone.now()
    periods = KeepPowerPeriod.objects.filter(site_id__in=list(site_ids)).select_related("site")
    return {
        period.site_id
        for period in periods
        if period.window().active_at(
            now.astimezone(ZoneInfo(period.site.time_zone)), _SCHEDULE_CALENDAR
        )
    }


def announce_alarms(
    credits: Sequence[tuple[Account, Money]], now: datetime | None = None
) -> dict[int, AlarmLevel]:
    """Record each account's alarm level from its credit, with an event once per change; the
    levels left. No relay is acted on.

    For accounts whose meters hold their credit and trip by themselves
    (``billing.reconcile_many``); call with the account rows locked. In the order
    given: an account may come more than once (one credit per meter), each judged
    in turn. One read of the states, one insert of the events, one write of the
    states and one of the states new here.
    """
    now = now or timezone.now()
    if not credits:
        return {}
    ids = sorted({account.pk for account, _ in credits})
    states = {
        state.account_id: state
        for state in PrepaidState.objects.select_for_update().filter(account_id__in=ids)
    }
    stored = set(states)
    events = []
    for account, credit in credits:
        state = states.setdefault(account.pk, PrepaidState(account=account))
        level, change = alarm_change(credit, thresholds_of(account), AlarmLevel(state.alarm))
        if change is not None:
            events.append(_event(account, None, change, now))
        state.alarm, state.balance, state.decided_at = level, credit.amount, now
    PrepaidEvent.objects.bulk_create(events)
    PrepaidState.objects.bulk_create([s for pk, s in states.items() if pk not in stored])
    update_many([states[pk] for pk in sorted(stored)], ["alarm", "balance", "decided_at"])
    return {pk: AlarmLevel(state.alarm) for pk, state in states.items()}


def _record(
    locked: Account, point: MeteringPoint | None, event: PolicyEvent, now: datetime
) -> None:
    _event(locked, point, event, now).save(force_insert=True)


def _event(
    locked: Account, point: MeteringPoint | None, event: PolicyEvent, now: datetime
) -> PrepaidEvent:
    return PrepaidEvent(
        account=locked,
        point=point,
        kind=event.kind,
        alarm=event.alarm,
        balance=event.balance.amount,
        reason=event.reason[:200],
        at=now,
    )


def active_points(account: Account) -> list[MeteringPoint]:
    """The metering points the account pays for now (any fee control).

    Each with the part of its latest state the policy reads (``relay_of``);
    other state columns load on first use.
    """
    points = MeteringPoint.objects.filter(
        account_links__account=account, account_links__released_at__isnull=True
    ).select_related("state")
    own = [f.name for f in MeteringPoint._meta.concrete_fields]
    # By id: the points' default order (site, gateway, meter …) joins three more tables.
    return list(points.only(*own, *_STATE_READ).order_by("pk"))


@dataclass(frozen=True)
class Relay:
    """A point's relay as best known, the relay command in flight, and who tripped it."""

    state: RelayState
    pending: RelayCommand | None = None
    #: A person's trip is the latest relay order and nobody has released it since
    #: (close, keep-power or resume prepaid): the policy must not close it.
    person_tripped: bool = False


#: A point's latest relay command that has not failed, as ``relay_of`` reads it:
#: (pk, kind, status, completed_at, by_policy).
LatestRelayCommand = tuple[int, str, str, datetime | None, bool]


def relay_of(point: MeteringPoint) -> Relay:
    """The relay state as best known, the relay command in flight, and a person's trip."""
    state = getattr(point, "state", None)
    latest = (
        Command.objects.filter(point=point, kind__in=list(_RELAY_KINDS))
        .exclude(status=CommandStatus.FAILED)
        .order_by("-pk")
        .values_list("pk", "kind", "status", "completed_at", "by_policy")
        .first()
    )
    return relay_from(
        point,
        state.relay_closed if state is not None else None,
        state.read_at if state is not None else None,
        latest,
    )


def relay_from(
    point: MeteringPoint,
    relay_closed: bool | None,
    read_at: datetime | None,
    latest: LatestRelayCommand | None,
) -> Relay:
    """:func:`relay_of` from the point's last reading and its latest relay command.

    A command confirmed after the last reading is newer knowledge than the
    reading; unknown state counts as closed (as an installer leaves a meter).
    """
    relay = RelayState.CLOSED
    if relay_closed is not None:
        relay = RelayState.CLOSED if relay_closed else RelayState.OPEN
    if latest is None:
        return Relay(relay)
    pk, kind, status, completed_at, by_policy = latest
    command = _RELAY_KINDS[CommandKind(kind)]
    person_tripped = command is RelayCommand.TRIP and not by_policy and not _released(point, pk)
    if status in _IN_FLIGHT:
        return Relay(relay, command, person_tripped)
    if completed_at and (read_at is None or completed_at > read_at):
        relay = command.target
    return Relay(relay, None, person_tripped)


def _released(point: MeteringPoint, trip_pk: int) -> bool:
    """Whether a person has kept power on or resumed prepaid control since a trip."""
    return (
        Command.objects.filter(point=point, pk__gt=trip_pk, kind__in=_RELEASES)
        .exclude(status=CommandStatus.FAILED)
        .exists()
    )
