"""Sales (recharges): list them, sell credit idempotently, reverse a wrong one."""

from decimal import Decimal
from typing import Annotated, Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import FilterLookup, FilterSchema, Query, Router, Status
from ninja.pagination import paginate
from pydantic import AwareDatetime

from pems.access.roles import Capability
from pems.accounts.actions import balance, check_open
from pems.accounts.models import Account
from pems.api.common import Page, allow, caller, get_visible, lock_visible_account, visible
from pems.api.errors import ApiError, refusals
from pems.api.money import money_of
from pems.api.schemas.common import READ_ERRORS, WRITE_ERRORS
from pems.api.schemas.sales import (
    KEY_PREFIX,
    RechargeIn,
    RechargeOut,
    ReversalIn,
    ReversalOut,
    SaleOut,
)
from pems.billing.actions import reverse_sale, sell_locked, wallet_after
from pems.billing.credit import push_key
from pems.billing.sale_reads import read_for_sale
from pems.control.models import Command
from pems.domain.money import Money
from pems.ledger.models import Channel, JournalEntry

router = Router(tags=["recharges"])
Kind = JournalEntry.Kind


class EntryFilters(FilterSchema):
    site: Annotated[int | None, FilterLookup("site_id")] = None
    account: Annotated[int | None, FilterLookup("account_id")] = None
    channel: Annotated[Channel | None, FilterLookup("memo__channel")] = None
    by: Annotated[str | None, FilterLookup("actor_label")] = None
    since: Annotated[AwareDatetime | None, FilterLookup("created_at__gte")] = None
    until: Annotated[AwareDatetime | None, FilterLookup("created_at__lt")] = None


def entries(kind: str) -> Any:
    """Journal entries of one kind, newest first, with what their answers show."""
    return (
        JournalEntry.objects.filter(kind=kind)
        .select_related("site")
        .annotate(reversal_id=F("reversed_by__id"))
        .order_by("-created_at", "-pk")
    )


@router.get("", response=list[RechargeOut], summary="List sales")
@paginate(Page)
def list_recharges(request: HttpRequest, filters: Query[EntryFilters]) -> Any:
    return filters.filter(visible(entries(Kind.RECHARGE), request))


@router.get("/{entry_id}", response={200: RechargeOut, **READ_ERRORS}, summary="One sale")
def get_recharge(request: HttpRequest, entry_id: int) -> Any:
    return get_visible(entries(Kind.RECHARGE), request, entry_id, _("Recharge"))


@router.post(
    "",
    response={201: SaleOut, 200: SaleOut, **WRITE_ERRORS},
    summary="Sell credit (idempotent: a replayed key answers 200 with the original sale)",
)
def create_recharge(request: HttpRequest, body: RechargeIn) -> Any:
    with transaction.atomic():
        # Found among the caller's sites and locked for the sale by one statement.
        account = lock_visible_account(request, body.account, "account")
        # The account is on one of the caller's sites, the very sites the capability is
        # checked at: only the role is left to ask (no second query for the site).
        allow(request, Capability.SELL, None)
        money = money_of(body.amount, body.currency, account.tenant.site)
        key = KEY_PREFIX + body.idempotency_key
        # The sale's own reads tell whether the key sold before: no statement of its own.
        reads = read_for_sale(account, timezone.now(), key)
        earlier = _earlier_sale(reads.replayed, account, money, body.channel)
        if earlier is not None:
            push = Command.objects.filter(idempotency_key=push_key(earlier.pk)).first()
            return Status(200, _answer(earlier, account, push))
        with refusals("account"):
            sale, push = sell_locked(
                check_open(account), money, body.channel, caller(request), key, body.reason, reads
            )
    if not sale.created:  # a concurrent request with this key sold first
        return Status(200, _answer(entries(Kind.RECHARGE).get(pk=sale.entry.pk), account, push))
    sale.entry.reversal_id = None  # type: ignore[attr-defined] # just made: not reversed
    return Status(201, _answer(sale.entry, account, push, wallet_after(sale, push)))


@router.post(
    "/{entry_id}/reversal",
    response={201: ReversalOut, 200: ReversalOut, **WRITE_ERRORS},
    summary="Reverse a wrong sale (冲正); repeating it answers 200 with the same reversal",
)
def reverse_recharge(request: HttpRequest, entry_id: int, body: ReversalIn) -> Any:
    return reverse(request, entries(Kind.RECHARGE), entry_id, _("Recharge"), body)


def reverse(request: HttpRequest, found_in: Any, entry_id: int, what: str, body: ReversalIn) -> Any:
    """Reverse a sale or refund once; a second request answers with the first reversal."""
    entry = get_visible(found_in, request, entry_id, what)
    allow(request, Capability.REVERSE, entry.site_id)
    if entry.reversal_id is not None:  # type: ignore[attr-defined]
        return Status(200, JournalEntry.objects.get(pk=entry.reversal_id))  # type: ignore[attr-defined]
    with refusals():
        posted = reverse_sale(entry, caller(request), body.reason)
    return Status(201 if posted.created else 200, posted.entry)


def _earlier_sale(
    made: int | None, account: Account, money: Money, channel: str
) -> JournalEntry | None:
    """The sale already made under the key (entry ``made``); 409 if it was something else."""
    if made is None:
        return None
    entry = entries(Kind.RECHARGE).filter(pk=made).first()
    if entry is None:  # an entry of another kind: the sale's own key check answers
        return None
    same = (
        entry.account_id == account.pk
        and Decimal(str(entry.memo.get("amount"))) == money.amount
        and entry.memo.get("channel") == channel
    )
    if not same:
        raise ApiError(
            409,
            _("This idempotency key was already used for a different sale."),
            "idempotency_key",
        )
    return entry


def _answer(
    entry: JournalEntry, account: Account, push: Command | None, left: Money | None = None
) -> JournalEntry:
    """The sale with the account's balance (``left`` by it, else read now) and its credit push."""
    entry.site = account.tenant.site
    entry.balance = (left if left is not None else balance(account)).amount  # type: ignore[attr-defined]
    entry.credit_push = push.pk if push is not None else None  # type: ignore[attr-defined]
    return entry
