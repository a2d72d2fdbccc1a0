"""Meter-side credit, mirrored: each new reading of a meter's credit held against the ledger.

A meter-side meter spends its credit by itself; PEMS learns what it spent only
from the remaining credit it reports. :func:`reconcile_due` takes every open
meter-side point read since it was last reconciled and, once per reading:

* books what the meter spent since PEMS last knew as revenue;
* flags *drift*, credit the meter holds beyond what PEMS sent, as a
  ``credit_drift`` meter event when it appears or grows (never booked);
* announces the tenant's alarm level from the credit left, wallet and meter
  together, drift included (the meter trips itself at zero: there is no relay
  to act on).

A reading says nothing about a credit change confirmed after it was taken
(a push, a clear): such a reading is passed over. While a clear is in flight
nothing is reconciled: the recall books that meter itself.

The work is done a chunk of accounts at a time (:mod:`pems.billing.reconcile_many`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet

from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing import reconcile_many
from pems.billing.models import MeterCreditMirror
from pems.billing.reconcile_many import Mirrored
from pems.domain.errors import DomainError
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger.posting import LedgerError

__all__ = ["Mirrored", "advance", "health", "points_due", "reconcile_due", "reconcile_point"]

log = logging.getLogger(__name__)


def points_due() -> QuerySet[AccountMeteringPoint]:
    """Open accounts' meter-side points with a credit reading newer than their mirror."""
    reconciled = MeterCreditMirror.objects.filter(
        account=OuterRef("account"),
        point=OuterRef("metering_point"),
        read_at__gte=OuterRef("metering_point__state__read_at"),
    )
    return (
        AccountMeteringPoint.objects.filter(
            released_at__isnull=True,
            account__status=Account.Status.OPEN,
            metering_point__fee_control=FeeControl.METER_SIDE,
            metering_point__state__remaining_credit__isnull=False,
        )
        .exclude(Exists(reconciled))
        .order_by("account_id", "metering_point_id")
    )


@dataclass(frozen=True)
class MirrorHealth:
    """How current the meter-side mirror is, for ``pems status``."""

    points: int  # open meter-side points whose meters report their credit
    behind: int  # read since they were last reconciled (``pems settle`` takes them)
    drifting: int  # whose meter holds credit PEMS did not send
    #: whose latest total is below the last one compared: readings passed over until the
    #: meter comes back (a misread) or its exchange is recorded
    fallen: int = 0


def health() -> MirrorHealth:
    """Four counts over the open meter-side points."""
    reporting = AccountMeteringPoint.objects.filter(
        released_at__isnull=True,
        account__status=Account.Status.OPEN,
        metering_point__fee_control=FeeControl.METER_SIDE,
        metering_point__state__remaining_credit__isnull=False,
    )
    mirrors = MeterCreditMirror.objects.filter(
        account__status=Account.Status.OPEN,
        point__account_links__account=F("account"),
        point__account_links__released_at__isnull=True,
    )
    drifting = mirrors.filter(drift__gt=0)
    fallen = mirrors.filter(energy_total__gt=F("point__state__energy_total"))
    return MirrorHealth(reporting.count(), points_due().count(), drifting.count(), fallen.count())


def reconcile_due(limit: int = 500) -> int:
    """Reconcile up to ``limit`` due points, a chunk of accounts per transaction; returns how
    many were looked at.

    A chunk that cannot be booked whole (an entry refused, a key another run
    used meanwhile) is taken again point by point; a point that still cannot is
    logged with its reason and never stops the others.
    """
    due = list(points_due().values_list("account_id", "metering_point_id")[:limit])
    for chunk in reconcile_many.chunks(due):
        try:
            with transaction.atomic():
                reconcile_many.reconcile_chunk(chunk, "reconcile")
        except (LedgerError, DomainError):
            for account_id, point_id in chunk:
                _reconcile_alone(account_id, point_id)
    return len(due)


def _reconcile_alone(account_id: int, point_id: int) -> None:
    try:
        reconcile_point(Account(pk=account_id), MeteringPoint(pk=point_id))
    except (LedgerError, DomainError) as refused:
        log.warning(
            "meter credit not reconciled",
            extra={"account": account_id, "point": point_id, "reason": str(refused)},
        )


@transaction.atomic
def reconcile_point(
    account: Account, point: MeteringPoint, actor: str = "reconcile"
) -> Mirrored | None:
    """Reconcile the point's latest reading once; None when there is nothing new to take.

    The account row is locked first (as by every money action), so two runs
    at once take each reading once: the second finds the mirror moved on.
    """
    pair = (account.pk, point.pk)
    return reconcile_many.reconcile_chunk([pair], actor).get(pair)


def advance(locked: Account, point: MeteringPoint, to: datetime) -> None:
    """Move the mirror's cursor to ``to`` without comparing: readings up to it are passed over.

    A meter exchange calls it with the exchange instant: the old meter's last
    readings say nothing about the new one, nor its energy total (the new
    meter's readings are held to none until one is compared).
    """
    mirror, created = MeterCreditMirror.objects.get_or_create(
        account=locked, point=point, defaults={"read_at": to}
    )
    if not created:
        moved = {"read_at": to} if mirror.read_at < to else {}
        MeterCreditMirror.objects.filter(pk=mirror.pk).update(energy_total=None, **moved)
