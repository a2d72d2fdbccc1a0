"""A person's relay order: trip, close, keep power or resume prepaid control of one point.

The console and the API both go through :func:`order_relay`, so an order
means the same from either. Keep-power (保电) has two halves: the account's
``keep_power`` flag stops the server-side policy from tripping, and the
``keep_power_on`` command makes the meter itself hold the relay closed (so a
meter-side meter does not trip at zero either). Resuming prepaid control (or
``keep_power_off``) undoes both and lets the policy decide again. A person's
trip holds until a person closes, keeps power or resumes prepaid control
(``policy.relay_of``).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pems.accounts import actions as accounts
from pems.accounts.models import Account
from pems.billing.policy import apply_policy, thresholds_of
from pems.control import actions as control
from pems.control.models import Command, CommandKind
from pems.domain.calendar import DayCalendar
from pems.domain.money import Money
from pems.domain.policy import KeepPower, PolicyState, RelayState, decide
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart

#: What a person may order; credit pushes, prices and thresholds belong to other actions.
PERSON_RELAY_KINDS = (
    CommandKind.TRIP,
    CommandKind.CLOSE,
    CommandKind.KEEP_POWER_ON,
    CommandKind.KEEP_POWER_OFF,
    CommandKind.RESUME_PREPAID,
)
_KEEP_POWER_FLAG = {
    CommandKind.KEEP_POWER_ON: True,
    CommandKind.KEEP_POWER_OFF: False,
    CommandKind.RESUME_PREPAID: False,
}


class RelayRefused(Exception):
    """The order would be undone at once or is not a relay order; the message says why."""


def open_account_of(point: MeteringPoint) -> Account | None:
    """The open account paying for ``point`` (at most one, by a database constraint)."""
    return (
        Account.objects.filter(
            links__metering_point=point,
            links__released_at__isnull=True,
            status=Account.Status.OPEN,
        )
        .select_related("tenant__site", "tenant__room")
        .first()
    )


@transaction.atomic
def order_relay(
    point: MeteringPoint,
    kind: str,
    actor: Any,
    reason: str,
    idempotency_key: str | None = None,
) -> Command:
    """Queue a person's relay order for ``point``; a replayed key returns the first command."""
    if kind not in PERSON_RELAY_KINDS:
        raise RelayRefused(_("%(kind)s is not a relay order.") % {"kind": kind})
    if idempotency_key is not None:
        existing = Command.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:  # enqueue checks the replay names the same order
            return control.enqueue(point, kind, idempotency_key=idempotency_key)
    account = open_account_of(point)
    if account is not None and kind in _KEEP_POWER_FLAG:
        wanted = _KEEP_POWER_FLAG[CommandKind(kind)]
        if account.keep_power != wanted:
            account = accounts.set_thresholds(account, actor, reason, keep_power=wanted)
    if kind == CommandKind.CLOSE and account is not None:
        _refuse_a_close_the_policy_would_undo(point, account)
    command = control.enqueue(
        point, kind, idempotency_key=idempotency_key, actor=actor, reason=reason
    )
    if account is not None and kind in (CommandKind.RESUME_PREPAID, CommandKind.KEEP_POWER_OFF):
        apply_policy(account, actor=actor)  # the policy decides the relay again
    return command


def _refuse_a_close_the_policy_would_undo(point: MeteringPoint, account: Account) -> None:
    """A server-side point without enough credit would be tripped again on the next decision."""
    if point.fee_control != FeeControl.SERVER_SIDE:
        return  # a meter-side meter judges its own credit
    wallet = chart.wallet(account)
    balance = Money(wallet.balance, wallet.currency)
    thresholds = thresholds_of(account)
    decision = decide(
        PolicyState(balance, RelayState.OPEN),
        thresholds,
        KeepPower(always=account.keep_power),
        timezone.now(),
        ZoneInfo(account.tenant.site.time_zone),
        DayCalendar(),
    )
    if decision.desired_relay is RelayState.OPEN:
        raise RelayRefused(
            _(
                "The balance %(balance)s is not above the reconnect minimum %(minimum)s: "
                "the prepaid policy would trip the meter again. Sell credit first, "
                "or keep power on."
            )
            % {"balance": balance, "minimum": thresholds.reconnect_minimum}
        )
