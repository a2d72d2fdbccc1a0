"""Recalling a meter-side meter's credit: trip it, read it, clear it, credit the wallet.

A tenant on a meter-side point cannot move out while the meter holds credit
PEMS sent it (``close_account`` refuses). :func:`recall_meter_credit` queues a
person's trip (unless one already holds the relay open) and a
``clear_credit`` command. The collector runs them in order; just before the
clear it reads what the meter holds and stores it on the command, and once
the meter shows 0 with its relay open it confirms the clear and calls
:func:`credit_cleared` in the same transaction: what the meter spent since
PEMS last knew is booked as revenue (``credit.book_spending``) and what it
held goes back to the wallet. A meter holding *more* than PEMS sent returns
only what PEMS sent; the excess is drift, never booked. ``close_account``
then refunds the wallet as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pems.accounts import actions as accounts
from pems.accounts.models import Account, AccountMeteringPoint
from pems.audit.log import record
from pems.billing import credit
from pems.billing.policy import relay_of
from pems.control import actions as control
from pems.control.models import CREDIT_BEFORE_CLEAR, Command, CommandKind, CommandStatus
from pems.domain.money import Money, minor_unit
from pems.domain.policy import RelayState
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart
from pems.ledger.models import JournalEntry, LedgerAccount
from pems.ledger.posting import LedgerError, post

#: The button and the action's name, as a person reads them (refusals point to it).
RECALL_LABEL = gettext_lazy("Recall meter credit")
#: What the collector's confirmation stores on the command besides the meter's answer.
RETURNED, USAGE_BOOKED, DRIFT = "credit_returned", "usage_booked", "drift"
_OPEN = [CommandStatus.PENDING, CommandStatus.SENT]


class RecallRefused(credit.CreditError):
    """The recall cannot be queued (or booked) as asked; the message says why."""


#: What may refuse to book a confirmed clear: the collector then leaves it open to retry.
RETURN_REFUSALS: tuple[type[Exception], ...] = (
    credit.CreditError,
    accounts.AccountActionError,
    LedgerError,
)


@dataclass(frozen=True)
class Recall:
    """The latest recall of a point's credit, as a person follows it.

    ``state`` is ``pending``, ``confirmed`` or ``failed``; ``held`` is what the
    meter held just before its clear, ``returned`` what went back to the wallet,
    ``drift`` what the meter held beyond what PEMS sent (never booked).
    """

    command: Command
    state: str
    held: Decimal | None
    returned: Decimal | None
    drift: Decimal | None
    reason: str


@transaction.atomic
def recall_meter_credit(
    account: Account,
    point: MeteringPoint,
    actor: Any,
    reason: str,
    idempotency_key: str | None = None,
) -> Command:
    """Queue the recall of the credit ``point``'s meter holds for ``account``; its clear command.

    Refused (nothing written) when the account is closed, the point is not a
    meter-side point the account pays for, a credit push to it is still in
    flight, or a recall is already pending. A replayed ``idempotency_key``
    returns the first recall's command.
    """
    payload = {"account": account.pk}
    clear_key = recall_key(idempotency_key)
    if clear_key is not None and Command.objects.filter(idempotency_key=clear_key).exists():
        # A replay: enqueue returns the first clear, or refuses a key used for another.
        return control.enqueue(point, CommandKind.CLEAR_CREDIT, payload, idempotency_key=clear_key)
    locked = accounts.lock_open(account)
    _refuse_unless_recallable(locked, point)
    if not _held_open_by_a_person(point):
        control.enqueue(
            point,
            CommandKind.TRIP,
            idempotency_key=None if clear_key is None else f"{clear_key}:trip",
            actor=actor,
            reason=reason,
        )
    command = control.enqueue(
        point,
        CommandKind.CLEAR_CREDIT,
        payload,
        idempotency_key=clear_key,
        actor=actor,
        reason=reason,
    )
    held = sent_and_held(locked, point)
    changes = {"point": point.pk, "on_meter": str(held), "command": str(command.command_id)}
    record(actor, "account.recall_meter_credit", locked, changes, reason)
    return command


def sent_and_held(account: Account, point: MeteringPoint) -> Decimal:
    """The credit PEMS sent ``point``'s meter for ``account`` that it still holds, by the ledger."""
    key = chart.meter_credit_ref(account, point).key
    balance = LedgerAccount.objects.filter(key=key).values_list("balance", flat=True).first()
    return balance if balance is not None else Decimal("0.00")


def recall_key(idempotency_key: str | None) -> str | None:
    """The clear command's key for a recall a caller names ``idempotency_key``."""
    return None if idempotency_key is None else f"recall:{idempotency_key}"


def _refuse_unless_recallable(locked: Account, point: MeteringPoint) -> None:
    names = {"point": point, "meter": point.meter_number, "account": locked.pk}
    if point.fee_control != FeeControl.METER_SIDE:
        raise RecallRefused(
            _(
                "%(point)s is not meter-side: its credit is in the prepaid balance, "
                "not on the meter."
            )
            % names
        )
    pays = AccountMeteringPoint.objects.filter(
        account=locked, metering_point=point, released_at__isnull=True
    )
    if not pays.exists():
        raise RecallRefused(_("Account %(account)s does not pay for %(point)s.") % names)
    if credit.pushes_in_flight(point).exists():
        raise RecallRefused(
            _(
                "A credit push to meter %(meter)s is still on its way: recall the credit "
                "once the push is confirmed or has failed."
            )
            % names
        )
    if Command.objects.filter(
        point=point, kind=CommandKind.CLEAR_CREDIT, status__in=_OPEN
    ).exists():
        raise RecallRefused(_("The credit of meter %(meter)s is already being recalled.") % names)


def _held_open_by_a_person(point: MeteringPoint) -> bool:
    """A person's trip holds the relay open: the meter cannot spend or close by itself.

    A meter that opened on its own (credit gone) is tripped anyway: cleared to
    zero under an overdraft limit, it would close again and spend.
    """
    relay = relay_of(point)
    return relay.state is RelayState.OPEN and relay.person_tripped and relay.pending is None


def lock_recalling(command: Command) -> Account:
    """The row of the account a clear gives back to, locked first (as every money action)."""
    return accounts.lock_open(Account.objects.get(pk=command.payload["account"]))


def credit_cleared(locked: Account, command: Command, held: Decimal) -> dict[str, str]:
    """Book a confirmed clear: spending as revenue, then what the meter held to the wallet.

    ``held`` is the credit the meter reported just before the clear. Call with
    ``locked`` from :func:`lock_recalling`, in the transaction that confirms
    the command; returns the outcome for the command's answer. Posts once per
    command: the entries' keys derive from its id (a replay returns ``{}``).
    """
    usage_key, return_key = (
        f"meter-clear-usage:{command.command_id}",
        f"meter-clear:{command.command_id}",
    )
    if JournalEntry.objects.filter(idempotency_key__in=[usage_key, return_key]).exists():
        return {}
    point, actor = command.point, command.requested_by or "collector"
    memo = {"recall": str(command.command_id)}
    booked = credit.book_spending(locked, point, held, actor, memo, idempotency_key=usage_key)
    returned = min(held, booked.expected)  # more than PEMS sent is drift, not the tenant's
    if returned:
        currency = locked.tenant.site.currency
        post(
            site_id=locked.tenant.site_id,
            kind=JournalEntry.Kind.METER_RETURN,
            lines=[
                (chart.meter_credit_ref(locked, point), Money(-returned, currency)),
                (chart.wallet_ref(locked), Money(returned, currency)),
            ],
            actor=actor,
            account_id=locked.pk,
            idempotency_key=return_key,
            memo={**memo, "point": point.pk, "held": str(held), "drift": str(booked.drift)},
        )
    unit = minor_unit(locked.tenant.site.currency)
    return {
        RETURNED: str(returned.quantize(unit)),
        USAGE_BOOKED: str(booked.usage_booked.quantize(unit)),
        DRIFT: str(booked.drift.quantize(unit)),
    }


def latest_recall(point: MeteringPoint, account: Account | None = None) -> Recall | None:
    """The point's latest recall (for ``account`` when given), or None."""
    command = (
        Command.objects.filter(point=point, kind=CommandKind.CLEAR_CREDIT).order_by("-pk").first()
    )
    if command is None or (account is not None and command.payload.get("account") != account.pk):
        return None
    answer = command.answer
    state = "pending" if command.status in _OPEN else str(command.status)
    return Recall(
        command=command,
        state=state,
        held=_decimal(answer.get(CREDIT_BEFORE_CLEAR)),
        returned=_decimal(answer.get(RETURNED)),
        drift=_decimal(answer.get(DRIFT)),
        reason=command.failure_reason,
    )


def _decimal(text: object) -> Decimal | None:
    return Decimal(text) if isinstance(text, str) else None
