"""What colour a metering point's tile shows: one function, from the facts PEMS holds.

The facts come from the collector (``metering.PointState``: online, relay,
forced mode, the meter's own alarm flags), the account (open or not,
keep-power) and the money (wallet balance for server-side points, the meter's
remaining credit for meter-side ones, judged by ``domain.policy.alarm_level``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from pems.accounts.models import Account
from pems.billing.policy import thresholds_of
from pems.domain.money import Money
from pems.domain.policy import AlarmLevel, alarm_level
from pems.inventory.choices import FeeControl
from pems.metering.models import PointState

#: What ``PointState.forced_mode`` holds when a forced command rules the relay.
FORCED_TRIP = "forced_trip"
FORCED_KEEP_POWER = "keep_power"


class DisplayState(models.TextChoices):
    """Tile states, most urgent first (the order of :func:`display_state`'s checks)."""

    OFFLINE = "offline", _("Offline")
    TRIPPED = "tripped", _("Tripped")
    NOT_OPENED = "not-opened", _("Not opened")
    KEEP_POWER = "keep-power", _("Keep-power")
    ARREARS = "arrears", _("Arrears")
    ALARM2 = "alarm2", _("Alarm 2")
    ALARM1 = "alarm1", _("Alarm 1")
    OPENED = "opened", _("Opened")


def counted(counts: Mapping[str, int]) -> list[tuple[DisplayState, int]]:
    """Every state with its count (zero included), most urgent first."""
    return [(state, counts.get(state.value, 0)) for state in DisplayState]


@dataclass(frozen=True)
class PointFacts:
    """What is known about a point when choosing its colour.

    ``online`` is None when the collector has never polled it; ``alarm`` is
    the level of the money that pays for it (NONE without an account).
    """

    online: bool | None
    relay_closed: bool | None
    forced_mode: str
    has_account: bool
    keep_power: bool
    alarm: AlarmLevel
    #: A keep-power period of the site is in force and PEMS decides the point's relay.
    kept_by_period: bool = False


_ALARM_STATES = {
    AlarmLevel.DEPLETED: DisplayState.ARREARS,
    AlarmLevel.ALARM_2: DisplayState.ALARM2,
    AlarmLevel.ALARM_1: DisplayState.ALARM1,
    AlarmLevel.NONE: DisplayState.OPENED,
}


def display_state(facts: PointFacts) -> DisplayState:
    """The one state a tile shows.

    Stale data first (an offline meter's values may be wrong), then the relay as
    the meter last showed it, then whether anyone pays for the point, then
    keep-power (it explains why a point in arrears still has power), then money.
    """
    if not facts.online:
        return DisplayState.OFFLINE
    if facts.relay_closed is False or facts.forced_mode == FORCED_TRIP:
        return DisplayState.TRIPPED
    if not facts.has_account:
        return DisplayState.NOT_OPENED
    if facts.keep_power or facts.forced_mode == FORCED_KEEP_POWER:
        return DisplayState.KEEP_POWER
    if facts.kept_by_period and facts.alarm is AlarmLevel.DEPLETED:
        return DisplayState.KEEP_POWER  # why a point in arrears keeps its power tonight
    return _ALARM_STATES[facts.alarm]


def credit_of(fee_control: str, state: PointState | None, wallet: Decimal | None) -> Decimal | None:
    """The credit shown for a point: the meter's own for meter-side, else the wallet's."""
    if fee_control == FeeControl.METER_SIDE:
        return state.remaining_credit if state is not None else None
    return wallet


def money_alarm(
    account: Account, fee_control: str, state: PointState | None, wallet: Decimal | None
) -> AlarmLevel:
    """The alarm level of the money paying for a point.

    A meter-side meter judges its own credit: its alarm flags win, and its
    reported credit is judged against the account's thresholds when it sends none.
    """
    if fee_control == FeeControl.METER_SIDE and state is not None:
        if state.arrears:
            return AlarmLevel.DEPLETED
        if state.alarm2:
            return AlarmLevel.ALARM_2
        if state.alarm1:
            return AlarmLevel.ALARM_1
        if state.alarm1 is False:  # the meter reports its flags: all clear
            return AlarmLevel.NONE
    credit = credit_of(fee_control, state, wallet)
    if credit is None:
        return AlarmLevel.NONE
    thresholds = thresholds_of(account)
    return alarm_level(Money(credit, thresholds.alarm_1.currency), thresholds)


def facts_of(
    state: PointState | None,
    account: Account | None,
    fee_control: str,
    wallet: Decimal | None,
    site_keeps_power: bool = False,
) -> PointFacts:
    """Gather the facts of one point from rows already loaded (no query).

    ``site_keeps_power``: a keep-power period of its site is in force now
    (``billing.policy.sites_keeping_power``).
    """
    alarm = AlarmLevel.NONE
    if account is not None:
        alarm = money_alarm(account, fee_control, state, wallet)
    return PointFacts(
        online=None if state is None or state.read_at is None else state.online,
        relay_closed=state.relay_closed if state is not None else None,
        forced_mode=state.forced_mode if state is not None else "",
        has_account=account is not None,
        keep_power=bool(account and account.keep_power),
        alarm=alarm,
        kept_by_period=site_keeps_power and fee_control == FeeControl.SERVER_SIDE,
    )
