"""Meter-side credit, mirrored: each new reading of a meter's credit held against the ledger.

A meter-side meter spends its credit by itself; PEMS learns what it spent only
from the remaining credit it reports. :func:`reconcile_due` takes every open
meter-side point read since it was last reconciled and, once per reading:

* books what the meter spent since PEMS last knew as revenue
  (``credit.book_spending``);
* flags *drift*, credit the meter holds beyond what PEMS sent, as a
  ``credit_drift`` meter event when it appears or grows (never booked);
* announces the tenant's alarm level from the credit left, wallet and meter
  together, drift included (the meter trips itself at zero: there is no relay
  to act on).

A reading says nothing about a credit change confirmed after it was taken
(a push, a clear): such a reading is passed over. While a clear is in flight
nothing is reconciled: the recall books that meter itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing import credit, policy
from pems.billing.models import MeterCreditMirror
from pems.control.models import Command, CommandKind, CommandStatus
from pems.domain.money import Money
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart
from pems.ledger.posting import LedgerError
from pems.metering.models import EventKind, MeterEvent, PointState

log = logging.getLogger(__name__)

_CREDIT_CHANGES = [CommandKind.PUSH_CREDIT, CommandKind.CLEAR_CREDIT]
_IN_FLIGHT = [CommandStatus.PENDING, CommandStatus.SENT]


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


def health() -> MirrorHealth:
    """Three counts over the open meter-side points."""
    reporting = AccountMeteringPoint.objects.filter(
        released_at__isnull=True,
        account__status=Account.Status.OPEN,
        metering_point__fee_control=FeeControl.METER_SIDE,
        metering_point__state__remaining_credit__isnull=False,
    )
    drifting = MeterCreditMirror.objects.filter(
        drift__gt=0,
        account__status=Account.Status.OPEN,
        point__account_links__account=F("account"),
        point__account_links__released_at__isnull=True,
    )
    return MirrorHealth(reporting.count(), points_due().count(), drifting.count())


def reconcile_due(limit: int = 500) -> int:
    """Reconcile up to ``limit`` due points; returns how many were looked at.

    One point whose spending cannot be booked is logged with its reason and
    never stops the others.
    """
    due = list(points_due().values_list("account_id", "metering_point_id")[:limit])
    for account_id, point_id in due:
        try:
            reconcile_point(Account(pk=account_id), MeteringPoint(pk=point_id))
        except (credit.CreditError, LedgerError) as refused:
            log.warning(
                "meter credit not reconciled",
                extra={"account": account_id, "point": point_id, "reason": str(refused)},
            )
    return len(due)


@dataclass(frozen=True)
class Mirrored:
    """What reconciling one reading found; ``compared`` is False for a reading passed over."""

    read_at: datetime
    compared: bool
    expected: Decimal | None = None
    reported: Decimal | None = None
    usage_booked: Decimal = Decimal(0)
    drift: Decimal = Decimal(0)
    drift_flagged: bool = False


@transaction.atomic
def reconcile_point(
    account: Account, point: MeteringPoint, actor: Any = "reconcile"
) -> Mirrored | None:
    """Reconcile the point's latest reading once; None when there is nothing new to take.

    The account row is locked first (as by every money action), so two runs
    at once take each reading once: the second finds the mirror moved on.
    """
    locked = (
        Account.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant__site")
        .get(pk=account.pk)
    )
    state = PointState.objects.filter(point_id=point.pk).first()
    if not locked.is_open or state is None or state.read_at is None:
        return None
    if state.remaining_credit is None:  # the meter has not reported its credit yet
        return None
    mirror = MeterCreditMirror.objects.filter(account=locked, point_id=point.pk).first()
    if mirror is not None and mirror.read_at >= state.read_at:
        return None  # another run took this reading
    changes = _credit_changes(point.pk)
    if changes.clearing:
        return None  # the recall books this meter when its clear is confirmed
    point = MeteringPoint.objects.select_related("meter").get(pk=point.pk)
    if changes.confirmed_at is not None and state.read_at <= changes.confirmed_at:
        # The reading does not show that credit yet (or still shows what a clear
        # removed): the gap would be booked as usage, or flagged as drift.
        advance(locked, point, state.read_at)
        return Mirrored(state.read_at, compared=False)
    reading = (state.read_at, state.remaining_credit)
    return _compare(locked, point, reading, mirror, changes.pushing, actor)


def _compare(
    locked: Account,
    point: MeteringPoint,
    reading: tuple[datetime, Decimal],
    mirror: MeterCreditMirror | None,
    pushing: bool,
    actor: Any,
) -> Mirrored:
    """Book the reading's spending, flag new drift, record the mirror and the alarm level."""
    read_at, reported = reading
    booked = credit.book_spending(
        locked,
        point,
        reported,
        actor,
        {"read_at": read_at.isoformat()},
        idempotency_key=f"meter-usage:{point.pk}:{read_at.isoformat()}",
    )
    # A push in flight may already be on the meter: what looks like drift may be it.
    drift = Decimal(0) if pushing else booked.drift
    flagged = drift > (mirror.drift if mirror is not None else 0)
    if flagged:
        MeterEvent.objects.create(
            point=point,
            kind=EventKind.CREDIT_DRIFT,
            at=read_at,
            before={"expected": str(booked.expected)},
            after={"meter": str(reported)},
            detail=f"meter {point.meter.number} holds {drift} more credit than PEMS sent",
        )
        log.warning(
            "meter credit drift",
            extra={"point": point.pk, "meter": point.meter.number, "drift": str(drift)},
        )
    seen = {"read_at": read_at, "reported": reported, "expected": booked.expected, "drift": drift}
    if mirror is None:
        MeterCreditMirror.objects.create(account=locked, point=point, **seen)
    else:
        MeterCreditMirror.objects.filter(pk=mirror.pk).update(**seen, reconciled_at=timezone.now())
    if not _has_server_side_points(locked):  # else the wallet's policy announces alarms
        # What the tenant can still use: the wallet, and what the meter holds by its own
        # account (drift included: the meter spends it before it trips).
        held = chart.balances(chart.wallet_ref(locked), chart.meter_credit_ref(locked, point))
        left = Money(sum(held) + drift, locked.tenant.site.currency)
        policy.announce_alarm(locked, left)
    return Mirrored(read_at, True, booked.expected, reported, booked.usage_booked, drift, flagged)


def advance(locked: Account, point: MeteringPoint, to: datetime) -> None:
    """Move the mirror's cursor to ``to`` without comparing: readings up to it are passed over.

    A meter exchange calls it with the exchange instant: the old meter's last
    readings say nothing about the new one.
    """
    mirror, created = MeterCreditMirror.objects.get_or_create(
        account=locked, point=point, defaults={"read_at": to}
    )
    if not created and mirror.read_at < to:
        MeterCreditMirror.objects.filter(pk=mirror.pk).update(read_at=to)


@dataclass(frozen=True)
class _CreditChanges:
    """What the point's credit commands say about its latest reading."""

    clearing: bool  # a clear is in flight
    pushing: bool  # a push is in flight
    confirmed_at: datetime | None  # the last push or clear confirmed


def _credit_changes(point_pk: int) -> _CreditChanges:
    in_flight = Q(status__in=_IN_FLIGHT)
    found = Command.objects.filter(point_id=point_pk, kind__in=_CREDIT_CHANGES).aggregate(
        clearing=Count("pk", filter=in_flight & Q(kind=CommandKind.CLEAR_CREDIT)),
        pushing=Count("pk", filter=in_flight & Q(kind=CommandKind.PUSH_CREDIT)),
        confirmed_at=Max("completed_at", filter=Q(status=CommandStatus.CONFIRMED)),
    )
    return _CreditChanges(bool(found["clearing"]), bool(found["pushing"]), found["confirmed_at"])


def _has_server_side_points(account: Account) -> bool:
    return AccountMeteringPoint.objects.filter(
        account=account,
        released_at__isnull=True,
        metering_point__fee_control=FeeControl.SERVER_SIDE,
    ).exists()
