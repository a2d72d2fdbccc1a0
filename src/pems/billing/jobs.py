"""Background billing work: settle what the collector has read, then apply the policy."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from pems.accounts.models import Account
from pems.billing.falls import fall_after
from pems.billing.models import SettlementCursor
from pems.billing.policy import apply_policy
from pems.billing.settle_many import prefetch_and_settle
from pems.billing.settlement import SettlementBlocked, settle_account
from pems.billing.tariffs import UNITS, tariff_at
from pems.domain.continuity import Fall
from pems.domain.errors import DomainError
from pems.inventory.choices import FeeControl

log = logging.getLogger(__name__)


def accounts_due() -> Any:
    """Open accounts with a server-side point read since its cursor (or never settled)."""
    server_side = Q(
        links__released_at__isnull=True,
        links__metering_point__fee_control=FeeControl.SERVER_SIDE,
    )
    fresh = Q(links__metering_point__state__read_at__gt=F("cursors__settled_until")) & Q(
        cursors__point=F("links__metering_point")
    )
    never = Q(cursors__isnull=True, links__metering_point__state__read_at__isnull=False)
    return Account.objects.filter(server_side, fresh | never, status=Account.Status.OPEN).distinct()


@dataclass
class Blocked:
    """Accounts a settle loop found blocked: tried again after ``retry``, warned about again
    when the reason changes or ``remind`` has passed.

    Without it every pass would try them first and log each again: a tariff whose
    holiday calendar ran out blocks all its accounts at once, every pass, and at
    ``limit`` of them they would starve the rest. Only the points refused wait: an
    account's other points are settled every pass (a zero reading there must still
    trip at once).
    """

    retry: timedelta = timedelta(minutes=2)
    remind: timedelta = timedelta(hours=1)
    #: account id → (reason, when to try again, when last warned, the points refused;
    #: none named: the whole account)
    accounts: dict[int, tuple[str, datetime, datetime, frozenset[int]]] = field(
        default_factory=dict
    )

    def waiting(self, now: datetime) -> dict[int, frozenset[int]]:
        """The accounts not to try again yet, each with the points that wait."""
        return {pk: pts for pk, (_, retry_at, _, pts) in self.accounts.items() if retry_at > now}

    def found(
        self, account: int, reason: str, now: datetime, points: frozenset[int] = frozenset()
    ) -> None:
        earlier = self.accounts.get(account)
        warned = earlier[2] if earlier is not None and earlier[0] == reason else None
        if warned is None or now - warned >= self.remind:
            log.warning("settlement blocked", extra={"account": account, "reason": reason})
            warned = now
        self.accounts[account] = (reason, now + self.retry, warned, points)

    def settled(self, account: int) -> None:
        if self.accounts.pop(account, None) is not None:
            log.info("settlement resumed", extra={"account": account})


def settle_due(limit: int = 500, blocked: Blocked | None = None) -> int:
    """Settle and decide for up to ``limit`` due accounts; returns how many were handled.

    One account that cannot be settled (no tariff, a total going backwards, a
    holiday calendar without the year) is logged with its reason and never
    stops the others; a loop passing the same ``blocked`` each time skips it
    until its retry time and warns about it once (see :class:`Blocked`).
    """
    if blocked is None:  # no loop to remember them: each call tries every due account
        blocked = Blocked()
    now = timezone.now()
    waiting = blocked.waiting(now)
    due = accounts_due()[: limit + len(waiting)]  # no id list in the SQL: it may be long
    others = _due_besides(waiting)
    accounts = [a for a in due if a.pk not in waiting or a.pk in others][:limit]
    # One grouped query per tariff, not one per point; a chunk of points per transaction.
    summaries, in_chunks = prefetch_and_settle(accounts)
    for account in accounts:
        skip = waiting.get(account.pk, frozenset())
        try:
            settle_account(account, prefetched=summaries, handled=in_chunks, skip=skip)
        except (SettlementBlocked, DomainError) as refused:  # e.g. a year the calendar lacks
            refused_points = getattr(refused, "points", frozenset())
            blocked.found(account.pk, str(refused), now, refused_points | skip)
        else:
            if account.pk not in waiting:
                blocked.settled(account.pk)
        apply_policy(account)
    return len(accounts)


def _due_besides(waiting: dict[int, frozenset[int]]) -> set[int]:
    """The waiting accounts with a point read since its cursor besides the points that wait
    (an account refused as a whole has none)."""
    named = {pk: points for pk, points in waiting.items() if points}
    if not named:
        return set()
    fresh = (
        _cursors()
        .filter(account_id__in=list(named), point__state__read_at__gt=F("settled_until"))
        .values_list("account_id", "point_id")
    )
    return {account for account, point in fresh if point not in named[account]}


#: A server-side point settled further than this behind its latest reading is stuck.
STUCK_AFTER = timedelta(hours=1)


def stuck(settled_until: datetime | None, read_at: datetime | None) -> bool:
    """Whether a point settled up to ``settled_until`` and read at ``read_at`` is stuck."""
    return (
        settled_until is not None and read_at is not None and read_at - settled_until > STUCK_AFTER
    )


@dataclass(frozen=True)
class SettlementHealth:
    """Open server-side points with a cursor; those stuck (``STUCK_AFTER``), the furthest
    behind first as (point id, meter number, settled up to)."""

    points: int
    stuck: int
    furthest: tuple[int, str, datetime] | None


def _cursors(site_ids: Collection[int] | None = None) -> QuerySet[SettlementCursor]:
    """The cursors of open accounts' server-side points (of ``site_ids``, or all)."""
    cursors = SettlementCursor.objects.filter(
        account__status=Account.Status.OPEN,
        point__fee_control=FeeControl.SERVER_SIDE,
        point__account_links__account=F("account"),
        point__account_links__released_at__isnull=True,
    )
    if site_ids is not None:
        cursors = cursors.filter(point__meter__gateway__site_id__in=list(site_ids))
    return cursors


def stuck_cursors(site_ids: Collection[int] | None = None) -> QuerySet[SettlementCursor]:
    """The cursors settled more than ``STUCK_AFTER`` behind their point's latest reading,
    the furthest behind first (``stuck`` in SQL)."""
    return (
        _cursors(site_ids)
        .filter(settled_until__lt=F("point__state__read_at") - STUCK_AFTER)
        .order_by("settled_until", "point_id")
    )


@dataclass(frozen=True)
class Stuck:
    """Why settlement stopped at a stuck cursor, as it would find it now.

    ``reason``: ``fall`` (the meter's total fell and stayed down: an exchange to
    record), ``waiting`` (it fell under six hours ago: the readings wait for the
    meter to come back), ``no-tariff`` (none in force then) or ``other`` (the log
    says: the holiday calendar, say). ``fall`` is the fall for the first two.
    """

    reason: str
    fall: Fall | None = None


def why_stuck(cursor: SettlementCursor) -> Stuck:
    """Why settlement stopped at ``cursor`` (its account and point loaded with it)."""
    fall = fall_after(cursor, UNITS[cursor.point.utility])
    if fall is not None:
        return Stuck("fall" if fall.lasting else "waiting", fall)
    if tariff_at(cursor.account, cursor.settled_until) is None:
        return Stuck("no-tariff")
    return Stuck("other")


def settlement_health() -> SettlementHealth:
    """How many open server-side points settlement keeps up with (a point blocked by a
    fallen total, a missing tariff or the holiday calendar shows here, whatever the cause)."""
    stuck = stuck_cursors()
    furthest = stuck.values_list("point_id", "point__meter__number", "settled_until").first()
    return SettlementHealth(_cursors().count(), stuck.count(), furthest)
