"""Meter-side fee control: credit moves from the wallet to the meter, and back as usage.

Selling to a meter-side point moves the credited amount from the tenant's
wallet to the point's *meter credit* account and queues a credit push (count
= last + 1, MAC by the collector). The meter then spends it; reconciling its
reported remaining credit recognises that spending as revenue, and a meter
holding *more* than PEMS sent is flagged as drift, never booked. Taking the
credit back off a meter (a tenant moving out) is ``pems.billing.recall``.
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
from pems.metering.models import PointState


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
        idempotency_key=f"meter-transfer:{sale.pk}",
        memo={"sale": sale.pk, "point": point.pk},
    )
    return control.enqueue_in_transaction(
        point,
        CommandKind.PUSH_CREDIT,
        {"amount": str(amount.amount)},
        idempotency_key=f"credit:{sale.pk}",
        actor=actor,
        reason=f"sale #{sale.pk}",
    )


@transaction.atomic
def recall_credit(sale: JournalEntry, actor: Any, reason: str) -> bool:
    """Take back credit of a sale that has not reached the meter; False if none was sent.

    Raises ``CreditError`` once the push has gone out: the meter has the credit.
    """
    command = Command.objects.filter(idempotency_key=f"credit:{sale.pk}").first()
    if command is None:
        return False
    if not control.cancel(command, actor=actor, reason=reason):
        raise CreditError(
            _(
                "sale #%(sale)s: the credit was already sent to meter %(meter)s; "
                "refund the tenant instead of reversing"
            )
            % {"sale": sale.pk, "meter": command.meter_id}
        )
    transfer = JournalEntry.objects.get(idempotency_key=f"meter-transfer:{sale.pk}")
    account = transfer.account
    assert account is not None  # noqa: S101 — transfers always name their account
    post(
        site_id=transfer.site_id,
        kind=JournalEntry.Kind.METER_TRANSFER,
        lines=mirror(transfer),
        actor=actor,
        reason=reason,
        account_id=account.pk,
        idempotency_key=f"meter-recall:{sale.pk}",
        memo={"recalls": transfer.pk},
    )
    return True


@dataclass(frozen=True)
class Reconciled:
    """A meter-side point's mirror: what PEMS expects the meter to hold vs what it reports."""

    expected: Decimal
    reported: Decimal | None
    usage_booked: Decimal
    drift: Decimal


@transaction.atomic
def reconcile(account: Account, point: MeteringPoint, actor: Any = "reconcile") -> Reconciled:
    """Book the credit the meter has spent as revenue; report drift when it holds more."""
    Account.objects.select_for_update(no_key=True).get(pk=account.pk)
    state = PointState.objects.filter(point=point).first()
    if state is None or state.remaining_credit is None:
        holding = chart.meter_credit(account, point)
        return Reconciled(holding.balance - credit_in_flight(point), None, Decimal(0), Decimal(0))
    return book_spending(account, point, state.remaining_credit, actor, {"read_at": state.read_at})


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
