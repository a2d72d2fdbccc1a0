"""Background billing work: settle what the collector has read, then apply the policy."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import F, Q

from pems.accounts.models import Account
from pems.billing.policy import apply_policy
from pems.billing.settle_many import settle_prefetched
from pems.billing.settlement import SettlementBlocked, settle_account
from pems.billing.summaries import prefetch
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


def settle_due(limit: int = 500) -> int:
    """Settle and decide for up to ``limit`` due accounts; returns how many were handled.

    One account that cannot be settled (no tariff, a total going backwards, a
    holiday calendar without the year) is logged with its reason and never
    stops the others.
    """
    handled = 0
    accounts = list(accounts_due()[:limit])
    summaries = prefetch(accounts)  # one grouped query per tariff, not one per point
    in_chunks = settle_prefetched(summaries)  # a chunk of points per transaction
    for account in accounts:
        try:
            settle_account(account, prefetched=summaries, handled=in_chunks)
        except (SettlementBlocked, DomainError) as blocked:  # e.g. a year the calendar lacks
            log.warning("settlement blocked", extra={"account": account.pk, "reason": str(blocked)})
        apply_policy(account)
        handled += 1
    return handled
