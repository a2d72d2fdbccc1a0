"""Meter replacement (换表): a new meter takes over a metering point without losing a kWh or a cent.

The old meter's final reading closes its account of energy: server-side
points are settled up to it, meter-side points have their spending booked up
to its final remaining credit. The new meter's first reading becomes the
cursor's baseline, and on a meter-side point the credit the old meter still
held is pushed to the new one (its purchase count starting from the new
meter's own). The metering point, its accounts and its history stay the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pems.accounts.models import Account
from pems.audit.log import record
from pems.billing import credit, mirror
from pems.billing.falls import exchange_history, made_continuous
from pems.billing.models import SettlementCursor
from pems.billing.settlement import charge_up_to
from pems.billing.tariffs import UNITS
from pems.control import actions as control
from pems.control.models import Command, CommandKind, CommandStatus
from pems.domain.money import Money
from pems.inventory.choices import FeeControl
from pems.inventory.models import Meter, MeteringPoint
from pems.metering.models import PointState


@dataclass(frozen=True)
class FinalReading:
    """What the electrician reads off the old meter (and the new one) at the exchange."""

    total: Decimal
    remaining_credit: Decimal | None = None  # meter-side: credit left on the old meter


@dataclass(frozen=True)
class Replacement:
    new_meter: Meter
    charged: Money | None
    carried_credit: Money | None
    push: Command | None


def lock_exchange(point: MeteringPoint) -> tuple[Account | None, MeteringPoint]:
    """The point's paying account (if any), then the point and its meter, locked.

    The lock order as everywhere: account, then point. A caller that must look
    for an earlier exchange under the same locks (the API's retried key) takes
    them first; :func:`replace_meter` taking them again waits for nothing.
    """
    account = Account.objects.filter(
        links__metering_point=point, links__released_at__isnull=True
    ).first()
    if account is not None:
        account = (
            Account.objects.select_for_update(no_key=True, of=("self",))
            .select_related("tenant__site")
            .get(pk=account.pk)
        )
    locked = (
        MeteringPoint.objects.select_for_update(of=("self", "meter"))
        .select_related("meter__gateway__site")
        .get(pk=point.pk)
    )
    return account, locked


@transaction.atomic
def replace_meter(
    point: MeteringPoint,
    new_number: str,
    old: FinalReading,
    new_initial_total: Decimal,
    actor: Any,
    reason: str,
    at: datetime | None = None,
    new_purchase_count: int = 0,
    idempotency_key: str | None = None,
) -> Replacement:
    """Swap the point's meter for a new one with ``new_number`` at instant ``at``.

    The ``meter.replace`` audit event keeps what the exchange did (charged,
    carried, the credit push) and ``idempotency_key`` (the API's), where a
    retried request finds it.
    """
    at = at or timezone.now()
    account, locked = lock_exchange(point)
    old_meter = locked.meter
    if old_meter.address_count > 1:
        raise ValueError(
            _("meter %(meter)s is a multi-circuit box: replace it as a box")
            % {"meter": old_meter.number}
        )
    if account is not None and locked.fee_control == FeeControl.SERVER_SIDE:
        _check_final_total(account, locked, old.total, at)
    old_meter.removed_on = timezone.localdate(at)
    old_meter.full_clean()
    old_meter.save(update_fields=["removed_on", "updated_at"])
    new_meter = Meter(
        gateway=old_meter.gateway,
        address=old_meter.address,
        number=new_number,
        model=old_meter.model,
        location=old_meter.location,
        ct_ratio=old_meter.ct_ratio,
        pt_ratio=old_meter.pt_ratio,
        installed_on=timezone.localdate(at),
    )
    new_meter.full_clean()
    new_meter.save()
    MeteringPoint.objects.filter(pk=locked.pk).update(meter=new_meter)
    # Until the collector reads it, the point's purchase count is the new meter's as
    # installed: the next push must count from it, not from the old meter's.
    PointState.objects.update_or_create(
        point=locked, defaults={"purchase_count": new_purchase_count}
    )
    charged = carried = push = None
    if account is not None and locked.fee_control == FeeControl.SERVER_SIDE:
        charged = charge_up_to(account, locked, at, old.total, actor)
        SettlementCursor.objects.update_or_create(
            account=account,
            point=locked,
            defaults={
                "settled_until": at,
                "last_total": new_initial_total,
                **dict.fromkeys(["last_sharp", "last_peak", "last_flat", "last_valley"]),
            },
        )
    elif account is not None:
        carried, push = _carry_credit(account, locked, new_meter, old, actor, new_purchase_count)
        mirror.advance(account, locked, at)  # the old meter's readings are settled above
    changes: dict[str, Any] = {
        "meter": [old_meter.number, new_number],
        "old_final_total": str(old.total),
        "new_initial_total": str(new_initial_total),
        "old_remaining_credit": str(old.remaining_credit),
        "charged": None if charged is None else str(charged.amount),
        "carried_credit": None if carried is None else str(carried.amount),
        "push_command": None if push is None else push.pk,
    }
    if idempotency_key is not None:
        changes["idempotency_key"] = idempotency_key
    record(actor, "meter.replace", locked, changes, reason)
    return Replacement(new_meter, charged, carried, push)


class FinalTotalTooLow(ValueError):
    """The old meter's final total is below a total it already reported."""

    def __init__(self, reported: Decimal) -> None:
        self.reported = reported
        super().__init__(
            _("The old meter already reported %(total)s: its final total cannot be lower.")
            % {"total": reported}
        )


def _check_final_total(
    account: Account, point: MeteringPoint, total: Decimal, at: datetime
) -> None:
    """Refuse a final total below what the old meter reported since it was last charged.

    Settling stops at a total that goes backwards, so such a final total (a
    misread register) would leave the energy after it uncharged. The old meter's
    readings before the exchange and the final total are read as the exchange's
    settlement reads them (``billing.falls``): past misreads, a register wrap — one
    the final total shows at once, without the six hours' wait for the meter to
    come back — and the new meter's readings when the exchange is recorded after
    them. A fall the final total does not come back from is refused.
    """
    cursor = SettlementCursor.objects.filter(account=account, point=point).first()
    if cursor is None:
        return  # never read: nothing was reported before the final total
    history = exchange_history(cursor, UNITS[point.utility], at, total)
    made = made_continuous(point.pk, history, witnessed_last=True)
    if made.fall is not None:
        raise FinalTotalTooLow(made.last.total.amount)


#: Why a sale's push still waiting at an exchange was withdrawn (its credit goes with it).
_SENT_WITH_THE_EXCHANGE = "sent to the replacement meter with the carried credit"


def _carry_credit(
    account: Account,
    point: MeteringPoint,
    new_meter: Meter,
    old: FinalReading,
    actor: Any,
    count: int,
) -> tuple[Money, Command | None]:
    """Book the old meter's spending, then push to the new meter what it still held and the
    credit of sales still waiting to be sent to it.

    Such a sale's push, counted from the old meter's purchases, would be refused by
    the new one (its credit then going back to the wallet, to be sold again): it is
    withdrawn, its credit goes with the rest, counted from the new meter's purchases.
    A push already sent is left to its confirmation.
    """
    if old.remaining_credit is None:
        raise ValueError(_("a meter-side exchange needs the old meter's remaining credit"))
    # The credit still waiting is not expected on the old meter (book_spending knows).
    booked = credit.book_spending(account, point, old.remaining_credit, actor, {"exchange": True})
    waiting = credit.pushes_in_flight(point).filter(status=CommandStatus.PENDING).order_by("pk")
    withdrawn = Decimal(0)
    for stale in waiting:
        if control.cancel(stale, actor=actor, reason=_SENT_WITH_THE_EXCHANGE):
            withdrawn += Decimal(stale.payload["amount"])
    currency = account.tenant.site.currency
    carried = Money(min(old.remaining_credit, booked.expected) + withdrawn, currency)
    push = None
    if carried.amount > 0:
        push = control.enqueue(
            point,
            CommandKind.PUSH_CREDIT,
            {"amount": str(carried.amount), "account": account.pk},
            purchase_count=count + 1,
            idempotency_key=credit.exchange_push_key(point.pk, new_meter.pk),
            actor=actor,
            reason="credit carried to the replacement meter",
        )
    return carried, push
