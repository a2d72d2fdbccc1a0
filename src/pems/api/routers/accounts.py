"""Prepaid accounts: list with balances, open one (optionally with a first sale).

A meter-side meter's credit (its mirror, takeover and recall) is ``meter_credit``."""

from decimal import Decimal
from typing import Annotated, Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Status
from ninja.pagination import paginate

from pems.access.roles import Capability
from pems.accounts.actions import balance, open_account
from pems.accounts.models import Account, Tenant
from pems.api import queries
from pems.api.common import Page, allow, caller, get_visible, visible
from pems.api.errors import ApiError, refusals
from pems.api.money import money_of
from pems.api.schemas.accounts import AccountIn, AccountOut
from pems.api.schemas.common import READ_ERRORS, WRITE_ERRORS
from pems.api.schemas.sales import KEY_PREFIX
from pems.billing.actions import sell
from pems.inventory.models import MeteringPoint

router = Router(tags=["accounts"])

_THRESHOLDS = ("alarm1_threshold", "alarm2_threshold", "overdraft_limit", "reconnect_minimum")
#: Names in the actions' refusals → the request's fields.
_RENAMES = {
    "metering_point": "metering_points",
    "idempotency_key": "first_purchase.idempotency_key",
    "amount": "first_purchase.amount",
}


class AccountFilters(FilterSchema):
    site: Annotated[int | None, FilterLookup("tenant__site_id")] = None
    tenant: Annotated[int | None, FilterLookup("tenant_id")] = None
    status: Annotated[Account.Status | None, FilterLookup("status")] = None
    room: Annotated[
        str | None,
        FilterLookup("links__metering_point__room__name__iexact"),
        Field(description="A room's name: accounts that ever paid for a point there."),
    ] = None
    meter: Annotated[
        str | None,
        FilterLookup(["links__metering_point__meter__number", "links__metering_point__number"]),
        Field(description="A meter number."),
    ] = None


@router.get("", response=list[AccountOut], summary="List accounts with balances")
@paginate(Page)
def list_accounts(request: HttpRequest, filters: Query[AccountFilters]) -> Any:
    found = filters.filter(visible(queries.accounts(), request))
    if filters.room is not None or filters.meter is not None:
        found = found.distinct()
    return found


@router.get("/{account_id}", response={200: AccountOut, **READ_ERRORS}, summary="One account")
def get_account(request: HttpRequest, account_id: int) -> Any:
    account = get_visible(queries.accounts(), request, account_id, _("Account"))
    account.wallet_balance = balance(account).amount
    return account


@router.post("", response={201: AccountOut, **WRITE_ERRORS}, summary="Open an account")
def create_account(request: HttpRequest, body: AccountIn) -> Any:
    tenant = get_visible(
        Tenant.objects.select_related("site"), request, body.tenant, _("Tenant"), "tenant"
    )
    allow(request, Capability.SELL, tenant.site_id)
    points = _points(request, body.metering_points)
    first = body.first_purchase
    money = (
        money_of(first.amount, first.currency, tenant.site, "first_purchase.") if first else None
    )
    thresholds = {
        name: Decimal(value) for name in _THRESHOLDS if (value := getattr(body, name)) is not None
    }
    user = caller(request)
    with refusals(renames=_RENAMES), transaction.atomic():
        account = open_account(
            tenant, points, user, body.reason, keep_power=body.keep_power, **thresholds
        )
        if first is not None and money is not None:
            key = KEY_PREFIX + first.idempotency_key
            sell(account, money, first.channel, user, key, body.reason)
    return Status(201, get_account(request, account.pk))


def _points(request: HttpRequest, ids: list[int]) -> list[MeteringPoint]:
    found = {p.pk: p for p in visible(MeteringPoint.objects.filter(pk__in=ids), request)}
    if missing := [str(pk) for pk in ids if pk not in found]:
        raise ApiError(
            422,
            _("Metering point(s) %(ids)s not found.") % {"ids": ", ".join(missing)},
            "metering_points",
        )
    return [found[pk] for pk in dict.fromkeys(ids)]
