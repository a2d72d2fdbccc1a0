"""Meter-side fee control: credit moves from the wallet to the meter, and back as usage.

Selling to a meter-side point moves the credited amount from the tenant's
wallet to the point's *meter credit* account and queues a credit push (count
= last + 1, MAC by the collector). The meter then spends it; reconciling its
reported remaining credit (``pems.billing.mirror``) recognises that spending
as revenue, and a meter holding *more* than PEMS sent is flagged as drift,
never booked. Taking the credit back off a meter (a tenant moving out) is
``pems.billing.recall``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from pems.accounts.models import Account
from pems.control import actions as control
from pems.control.models import Command, CommandKind, CommandStatus
from pems.domain.money import Money
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.posting import mirror, post


class CreditError(RuntimeError):
    """Credit could not be sent or recalled; the message says why."""


def meter_side_point(account: Account) -> MeteringPoint | None:
    """The account's meter-side point; a meter-side account pays for exactly one."""
    return meter_side_among(
        account,
        MeteringPoint.objects.filter(
            account_links__account=account,
            account_links__released_at__isnull=True,
            fee_control=FeeControl.METER_SIDE,
        ).order_by("pk"),
    )


def meter_side_among(account: Account, active: Iterable[MeteringPoint]) -> MeteringPoint | None:
    """:func:`meter_side_point`, picked from the account's ``active`` points the caller has."""
    points = [p for p in active if p.fee_control == FeeControl.METER_SIDE]
    if len(points) > 1:
        raise CreditError(
            _("account %(account)s has %(count)s meter-side points; credit needs exactly one")
            % {"account": account.pk, "count": len(points)}
        )
    return points[0] if points else None


# No savepoint of its own: inside a sale, an error here rolls the whole sale back.
@transaction.atomic(savepoint=False)
def send_credit(
    account: Account, point: MeteringPoint, amount: Money, sale: JournalEntry, actor: Any
) -> Command:
    """Move ``amount`` to the meter's credit and queue its push (idempotent per sale)."""
    post(
        site_id=account.tenant.site_id,
        kind=JournalEntry.Kind.METER_TRANSFER,
        lines=[
            (chart.wallet_ref(account), -amount),
            (chart.meter_credit_ref(account, point), amount),
        ],
        actor=actor,
        account_id=account.pk,
        idempotency_key=transfer_key(sale.pk),
        memo={"sale": sale.pk, "point": point.pk},
    )
    return control.enqueue_in_transaction(
        point,
        CommandKind.PUSH_CREDIT,
        {"amount": str(amount.amount)},
        idempotency_key=push_key(sale.pk),
        actor=actor,
        reason=f"sale #{sale.pk}",
    )


@transaction.atomic
def recall_credit(sale: JournalEntry, actor: Any, reason: str) -> bool:
    """Take back credit of a sale that has not reached the meter; False if none was sent.

    Raises ``CreditError`` once the push has gone out: the meter has the credit.
    """
    command = Command.objects.filter(idempotency_key=push_key(sale.pk)).first()
    if command is None:
        return False
    if JournalEntry.objects.filter(idempotency_key=_recall_key(sale.pk)).exists():
        return True  # the push failed and its credit went back to the wallet then
    if command.status == CommandStatus.FAILED:  # withdrawn, not given back: a meter exchange
        raise CreditError(
            _(
                "sale #%(sale)s: its credit went to the replacement meter with the exchange; "
                "refund the tenant instead of reversing"
            )
            % {"sale": sale.pk}
        )
    if not control.cancel(command, actor=actor, reason=reason):
        raise CreditError(
            _(
                "sale #%(sale)s: the credit was already sent to meter %(meter)s; "
                "refund the tenant instead of reversing"
            )
            % {"sale": sale.pk, "meter": command.meter_id}
        )
    _take_back(sale.pk, actor, reason)
    return True


def _take_back(sale_pk: int, actor: Any, reason: str, **memo: Any) -> None:
    """Mirror the sale's transfer to its meter: the credit is in the wallet again (once)."""
    transfer = JournalEntry.objects.get(idempotency_key=transfer_key(sale_pk))
    assert transfer.account_id is not None  # noqa: S101 — transfers always name their account
    post(
        site_id=transfer.site_id,
        kind=JournalEntry.Kind.METER_TRANSFER,
        lines=mirror(transfer),
        actor=actor,
        reason=reason,
        account_id=transfer.account_id,
        idempotency_key=_recall_key(sale_pk),
        memo={"recalls": transfer.pk, **memo},
    )


@dataclass(frozen=True)
class Reconciled:
    """A meter-side point's mirror: what PEMS expects the meter to hold vs what it reports."""

    expected: Decimal
    reported: Decimal | None
    usage_booked: Decimal
    drift: Decimal


def book_spending(
    account: Account,
    point: MeteringPoint,
    reported: Decimal,
    actor: Any,
    memo: dict[str, Any],
    idempotency_key: str | None = None,
) -> Reconciled:
    """Given the credit a meter reports, book what it spent since PEMS last knew.

    Call with the account row locked. Credit still on its way to the meter is
    not expected to be there yet.
    """
    holding = chart.meter_credit(account, point)
    expected = holding.balance - credit_in_flight(point)
    spent = expected - reported
    if spent <= 0:
        return Reconciled(expected, reported, Decimal(0), -spent)
    site = account.tenant.site
    post(
        site_id=site.pk,
        kind=JournalEntry.Kind.METER_USAGE,
        lines=[
            (holding, Money(-spent, holding.currency)),
            (chart.revenue(site, point.utility), Money(spent, holding.currency)),
        ],
        actor=actor,
        account_id=account.pk,
        idempotency_key=idempotency_key,
        memo={"point": point.pk, "reported": str(reported), **memo},
    )
    return Reconciled(expected, reported, spent, Decimal(0))


def pushes_in_flight(point: MeteringPoint) -> QuerySet[Command]:
    """Credit pushes to ``point`` not yet confirmed or failed."""
    return Command.objects.filter(
        point=point,
        kind=CommandKind.PUSH_CREDIT,
        status__in=[CommandStatus.PENDING, CommandStatus.SENT],
    )


def credit_in_flight(point: MeteringPoint) -> Decimal:
    """Sum of credit pushes to ``point`` not yet confirmed or failed."""
    return sum((Decimal(c.payload["amount"]) for c in pushes_in_flight(point)), Decimal(0))


# The keys of what a sale sends to a meter-side meter, and of taking it back.
_PUSH, _TRANSFER, _RECALL, _EXCHANGE = "credit:", "meter-transfer:", "meter-recall:", "exchange:"


def push_key(sale_pk: int) -> str:
    """The key of the credit push that carries a sale to its meter."""
    return f"{_PUSH}{sale_pk}"


def transfer_key(sale_pk: int) -> str:
    """The key of the entry that moves a sale's credit from the wallet to the meter's."""
    return f"{_TRANSFER}{sale_pk}"


def _recall_key(sale_pk: int) -> str:
    return f"{_RECALL}{sale_pk}"


def _sale_of(push: Command) -> int | None:
    """The sale whose credit ``push`` carries (:func:`push_key`), if a sale queued it."""
    key = push.idempotency_key or ""
    return int(key.removeprefix(_PUSH)) if key.startswith(_PUSH) else None


def exchange_push_key(point_pk: int, meter_pk: int) -> str:
    """The key of the push that carries an exchanged meter's credit to its replacement."""
    return f"{_EXCHANGE}{point_pk}:{meter_pk}"


def _carries_exchange(push: Command) -> bool:
    return (push.idempotency_key or "").startswith(_EXCHANGE)


def paying_account_id(push: Command) -> int | None:
    """The account whose meter credit ``push`` carries (its sale's, or for a meter
    exchange the account it names); None for a push neither queued."""
    sale = _sale_of(push)
    if sale is not None:
        return JournalEntry.objects.filter(pk=sale).values_list("account_id", flat=True).first()
    if not _carries_exchange(push):
        return None
    if "account" in push.payload:
        return int(push.payload["account"])
    return (  # an exchange queued before pushes named their account: the point's payer
        Account.objects.filter(
            links__metering_point_id=push.point_id, links__released_at__isnull=True
        )
        .values_list("pk", flat=True)
        .first()
    )


def return_failed_push(locked: Account, push: Command, actor: Any, why: str) -> None:
    """Give the credit of a push that failed for good back to the wallet.

    A failed push never reached the meter (the collector fails one only after
    the meter refused it or read-back showed it did not land), so its credit
    must not stay in the meter-credit account, where reconciling would book it
    as usage. Call with ``locked`` (:func:`paying_account_id`) locked, in the
    transaction that fails the push. A sale's push is taken back as a recall
    takes it (under the same key: never both); another push (a meter
    exchange's) moves its amount back.
    """
    reason = f"credit push {push.command_id} failed: {why}"[:200]
    sale = _sale_of(push)
    if sale is not None:
        _take_back(sale, actor, reason, failed_push=push.pk)
        return
    if not _carries_exchange(push):
        raise ValueError(f"credit push {push.pk}: neither a sale nor an exchange queued it")
    amount = Money(Decimal(push.payload["amount"]), locked.tenant.site.currency)
    point = MeteringPoint.objects.get(pk=push.point_id)
    post(
        site_id=locked.tenant.site_id,
        kind=JournalEntry.Kind.METER_TRANSFER,
        lines=[
            (chart.meter_credit_ref(locked, point), -amount),
            (chart.wallet_ref(locked), amount),
        ],
        actor=actor,
        reason=reason,
        account_id=locked.pk,
        idempotency_key=f"push-failed:{push.pk}",
        memo={"failed_push": push.pk},
    )
