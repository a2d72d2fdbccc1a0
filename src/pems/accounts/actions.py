"""Account lifecycle actions: the only way accounts change state.

Views, the admin and the API call these; each runs in one transaction and
writes its audit event in it. The prepaid core extends them with money.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from pems.accounts.models import Account, AccountMeteringPoint
from pems.audit.log import record


class AccountClosed(Exception):
    """The account is already closed."""


@transaction.atomic
def close_account(account: Account, actor: Any, reason: str) -> Account:
    """Close an open account and release its metering points for a new tenant."""
    locked = Account.objects.select_for_update().get(pk=account.pk)
    if not locked.is_open:
        raise AccountClosed(f"Account {locked.pk} is already closed.")
    now = timezone.now()
    released = AccountMeteringPoint.objects.filter(account=locked, released_at__isnull=True)
    point_ids = list(released.values_list("metering_point_id", flat=True))
    released.update(released_at=now)
    Account.objects.filter(pk=locked.pk).update(
        status=Account.Status.CLOSED, closed_at=now, updated_at=now
    )
    locked.refresh_from_db()
    record(
        actor,
        "account.close",
        locked,
        {"status": ["open", "closed"], "released_metering_points": point_ids},
        reason,
    )
    return locked
