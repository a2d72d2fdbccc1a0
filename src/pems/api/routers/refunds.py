"""Refunds (退费): unused credit paid back to a tenant; reversible like a sale."""

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.pagination import paginate

from pems.access.roles import Capability
from pems.accounts.actions import balance
from pems.accounts.models import Account
from pems.api.common import Page, allow, caller, get_visible, visible
from pems.api.errors import refusals
from pems.api.money import money_of
from pems.api.routers.recharges import EntryFilters, entries, reverse
from pems.api.schemas.common import READ_ERRORS, WRITE_ERRORS
from pems.api.schemas.sales import (
    KEY_PREFIX,
    EntryOut,
    RefundIn,
    RefundOut,
    ReversalIn,
    ReversalOut,
)
from pems.billing.actions import refund
from pems.ledger.models import JournalEntry

router = Router(tags=["refunds"])
Kind = JournalEntry.Kind


@router.get("", response=list[EntryOut], summary="List refunds")
@paginate(Page)
def list_refunds(request: HttpRequest, filters: Query[EntryFilters]) -> Any:
    return filters.filter(visible(entries(Kind.REFUND), request))


@router.get("/{entry_id}", response={200: EntryOut, **READ_ERRORS}, summary="One refund")
def get_refund(request: HttpRequest, entry_id: int) -> Any:
    return get_visible(entries(Kind.REFUND), request, entry_id, _("Refund"))


@router.post(
    "",
    response={201: RefundOut, 200: RefundOut, **WRITE_ERRORS},
    summary="Refund credit (never more than the balance; idempotent on its key)",
)
def create_refund(request: HttpRequest, body: RefundIn) -> Any:
    account = get_visible(
        Account.objects.select_related("tenant__site"),
        request,
        body.account,
        _("Account"),
        "account",
    )
    allow(request, Capability.REFUND, account.tenant.site_id)
    money = money_of(body.amount, body.currency, account.tenant.site)
    user = caller(request)
    with refusals("account"):
        posted = refund(
            account, money, body.channel, user, body.reason, KEY_PREFIX + body.idempotency_key
        )
    entry = posted.entry if posted.created else entries(Kind.REFUND).get(pk=posted.entry.pk)
    entry.site = account.tenant.site
    if posted.created:
        entry.reversal_id = None  # type: ignore[attr-defined] # just made: not reversed
    entry.balance = balance(account).amount  # type: ignore[attr-defined]
    return Status(201 if posted.created else 200, entry)


@router.post(
    "/{entry_id}/reversal",
    response={201: ReversalOut, 200: ReversalOut, **WRITE_ERRORS},
    summary="Reverse a wrong refund; repeating it answers 200 with the same reversal",
)
def reverse_refund(request: HttpRequest, entry_id: int, body: ReversalIn) -> Any:
    return reverse(request, entries(Kind.REFUND), entry_id, _("Refund"), body)
