"""Closing an account (销户) with its final settlement: the console's action, once per key.

``pems.accounts.actions.close_account`` decides everything (refused while a
meter-side meter holds credit: recall it first). The client's key is kept in
the closing's ``account.close`` audit event; a retry finds that event and
answers from it and the closing entry, storing nothing new.
"""

from datetime import UTC
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from pems.access.roles import Capability
from pems.accounts.actions import close_account
from pems.accounts.models import Account
from pems.api.common import allow, caller, lock_visible_account
from pems.api.errors import ApiError, refusals
from pems.api.schemas.accounts import ClosureIn, ClosureOut
from pems.api.schemas.common import WRITE_ERRORS
from pems.api.schemas.sales import KEY_PREFIX
from pems.audit.models import AuditEvent
from pems.domain.money import Money
from pems.ledger.models import JournalEntry

router = Router(tags=["accounts"])

CLOSE_EVENT = "account.close"


@router.post(
    "/{account_id}/closure",
    response={201: ClosureOut, 200: ClosureOut, **WRITE_ERRORS},
    summary="Close an account with its final settlement (a retried key answers 200)",
)
def close(request: HttpRequest, account_id: int, body: ClosureIn) -> Any:
    key = KEY_PREFIX + body.idempotency_key
    with transaction.atomic():
        account = lock_visible_account(request, account_id)  # one request at a time per account
        allow(request, Capability.CLOSE_ACCOUNT, account.tenant.site_id)
        if _earlier_closing(key, account, body.channel):
            return Status(200, _replayed(account))
        with refusals("account"):
            closing = close_account(account, caller(request), body.reason, body.channel, key)
    return Status(201, _answer(closing.account, closing.refunded, closing.collected))


def _earlier_closing(key: str, account: Account, channel: str) -> bool:
    """Whether this very request already closed the account; 409 if the key did anything else.

    A closed account without this key was closed by another request: the action
    refuses it (409 on ``account``).
    """
    events = AuditEvent.objects.filter(action=CLOSE_EVENT, object_type="accounts.account")
    used = events.filter(changes__idempotency_key=key).values_list("object_id", "changes").first()
    if used is None:
        return False
    object_id, changes = used
    if object_id != str(account.pk) or changes.get("channel") != channel:
        raise ApiError(
            409,
            _("This idempotency key was already used for a different request."),
            "idempotency_key",
        )
    return True


def _replayed(account: Account) -> dict[str, Any]:
    """The earlier closing's answer: the settlement its closing entry booked (none: zero)."""
    memo = (
        JournalEntry.objects.filter(idempotency_key=f"closing:{account.pk}")
        .values_list("memo", flat=True)
        .first()
    )
    currency = account.tenant.site.currency
    zero = Money.zero(currency)
    settled = Money.of(str(memo["settled"]), currency) if memo else zero
    return _answer(account, max(settled, zero), max(-settled, zero))


def _answer(account: Account, refunded: Money, collected: Money) -> dict[str, Any]:
    assert account.closed_at is not None  # noqa: S101 — answered only once closed
    return {
        "account": account.pk,
        "status": account.status,
        "refunded": refunded.amount,
        "collected": collected.amount,
        "currency": account.tenant.site.currency,
        "closed_at": account.closed_at.astimezone(UTC),
    }
