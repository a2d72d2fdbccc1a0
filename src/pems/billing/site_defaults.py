"""A site's default thresholds changed, and the meter-side meters holding a changed one told.

Shared by the console and the API. The change itself is
:func:`pems.accounts.actions.set_site_thresholds` (validated, audited). A
meter-side meter holds its alarm thresholds and overdraft limit itself, so each
one whose open account falls back on a changed default is sent its account's
values again (a SET_ALARMS command). A server-side account needs no command,
and the policy is not run here for every account of the site: the settle loop
(``billing.jobs.settle_due``) judges each one with the new defaults when its
meter is next read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q

from pems.accounts import actions as accounts
from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing.meter_settings import meter_thresholds
from pems.control import actions as control
from pems.control.models import Command, CommandKind
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint, Site

#: The site defaults a meter-side meter holds itself (``meter_settings.meter_thresholds``);
#: the reconnect minimum stays with PEMS.
ON_THE_METER = ("default_alarm1_threshold", "default_alarm2_threshold", "default_overdraft_limit")


@transaction.atomic
def set_site_thresholds(
    site: Site,
    values: Mapping[str, Decimal],
    actor: Any,
    reason: str,
    key_of: Callable[[MeteringPoint], str],
) -> list[Command]:
    """Change the site's defaults; queue SET_ALARMS to each meter-side meter holding one changed.

    ``key_of(point)`` is each command's idempotency key: a caller that sends
    the same request twice (a resubmitted form) queues nothing twice.
    """
    saved = accounts.set_site_thresholds(site, actor, reason, **values)
    falls_back = Q()
    for name in sorted(saved.changed & set(ON_THE_METER)):
        falls_back |= Q(**{f"account__{accounts.SITE_DEFAULTS[name]}__isnull": True})
    if not falls_back:
        return []
    links = (
        AccountMeteringPoint.objects.filter(
            falls_back,
            released_at__isnull=True,
            account__status=Account.Status.OPEN,
            account__tenant__site=saved.site,
            metering_point__fee_control=FeeControl.METER_SIDE,
        )
        .select_related("metering_point", "account__tenant__site")
        .order_by("metering_point_id")
    )
    return [
        control.enqueue(
            link.metering_point,
            CommandKind.SET_ALARMS,
            meter_thresholds(link.account),
            idempotency_key=key_of(link.metering_point),
            actor=actor,
            reason=reason,
        )
        for link in links
    ]
