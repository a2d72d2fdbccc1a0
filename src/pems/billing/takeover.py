"""Credit found on a meter-side meter, taken over into the ledger (接管表内余额).

A site going live on PEMS has meters that already hold credit their tenants
bought from the previous system; to PEMS that credit is *drift*, which it
flags at the first reading and never books (``billing.mirror``). Once a
manager has checked where it came from, taking it over (never more than that
drift) books it as the tenant's meter credit, funded by the site's
*taken-over* account (what tenants had bought before PEMS). From then on the
meter's spending of it is revenue and a recall returns it, as for credit PEMS
sold.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pems.accounts import actions as accounts
from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing.credit import CreditError
from pems.billing.models import MeterCreditMirror
from pems.domain.money import Money
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.posting import Posted, post

#: The button and the action's name, as a person reads them.
TAKEOVER_LABEL = gettext_lazy("Take over meter credit")


def drift_to_take_over(account: Account, point: MeteringPoint) -> MeterCreditMirror | None:
    """The point's mirror when it shows credit beyond what PEMS sent, else None."""
    mirror = MeterCreditMirror.objects.filter(account=account, point=point).first()
    return mirror if mirror is not None and mirror.drift > 0 else None


class TakeoverRefused(CreditError):
    """The credit cannot be taken over as asked; the message says why."""


@transaction.atomic
def take_over_meter_credit(
    account: Account,
    point: MeteringPoint,
    amount: Money,
    actor: Any,
    reason: str,
    idempotency_key: str,
) -> Posted:
    """Book ``amount`` found on ``point``'s meter as ``account``'s meter credit, once per key.

    Never more than the drift the last reconciled reading showed: the rest is
    credit PEMS sent, or the meter spent. So nothing is taken over before PEMS
    has compared a reading: a typed amount the meter does not hold would be
    booked as usage at its next reading.
    """
    if not reason.strip():
        raise TakeoverRefused(_("Taking over a meter's credit needs a reason."))
    locked = accounts.lock_open(account)
    accounts.check_amount(locked, amount)
    if not _pays_meter_side(locked, point):
        raise TakeoverRefused(
            _("Metering point %(point)s is not a meter-side point of account %(account)s.")
            % {"point": point, "account": locked.pk}
        )
    key = f"meter-takeover:{idempotency_key}"
    mirror = MeterCreditMirror.objects.filter(account=locked, point=point).first()
    replay = JournalEntry.objects.filter(idempotency_key=key).exists()
    if mirror is None or mirror.reported is None:
        raise TakeoverRefused(
            _(
                "PEMS has not compared a reading of meter %(meter)s yet: "
                "take its credit over once the collector has read it."
            )
            % {"meter": point.meter_number}
        )
    if not replay and amount.amount > mirror.drift:
        raise TakeoverRefused(
            _(
                "Meter %(meter)s holds only %(drift)s more than PEMS sent; "
                "%(amount)s cannot be taken over."
            )
            % {"meter": point.meter_number, "drift": mirror.drift, "amount": amount}
        )
    site = locked.tenant.site
    posted = post(
        site_id=site.pk,
        kind=JournalEntry.Kind.METER_TAKEOVER,
        lines=[
            (chart.taken_over_ref(site), -amount),
            (chart.meter_credit_ref(locked, point), amount),
        ],
        actor=actor,
        reason=reason,
        account_id=locked.pk,
        idempotency_key=key,
        memo={"point": point.pk, "amount": str(amount.amount)},
    )
    if posted.created:  # the meter's next reading is compared with the credit booked
        MeterCreditMirror.objects.filter(pk=mirror.pk).update(
            expected=mirror.expected + amount.amount, drift=mirror.drift - amount.amount
        )
    return posted


def _pays_meter_side(account: Account, point: MeteringPoint) -> bool:
    return AccountMeteringPoint.objects.filter(
        account=account,
        metering_point=point,
        released_at__isnull=True,
        metering_point__fee_control=FeeControl.METER_SIDE,
    ).exists()
