"""Prepaid accounts: list with balances, open one (optionally with a first sale), and
recall the credit a meter-side meter holds (before closing)."""

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
from pems.api.schemas.accounts import AccountIn, AccountOut, RecallIn, RecallOut
from pems.api.schemas.common import READ_ERRORS, WRITE_ERRORS
from pems.api.schemas.sales import KEY_PREFIX
from pems.billing import recall
from pems.billing.actions import sell
from pems.billing.credit import meter_side_point
from pems.control.models import Command
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


@router.get(
    "/{account_id}/meter-credit-recall",
    response={200: RecallOut, **READ_ERRORS},
    summary="The latest recall of the account's meter credit",
)
def get_recall(request: HttpRequest, account_id: int, point: int | None = None) -> Any:
    account = get_visible(queries.accounts(), request, account_id, _("Account"))
    found = recall.latest_recall(_recall_point(request, account, point), account)
    if found is None:
        raise ApiError(404, _("No recall of this account's meter credit yet."))
    return _recall_out(account, found)


@router.post(
    "/{account_id}/meter-credit-recall",
    response={201: RecallOut, 200: RecallOut, **WRITE_ERRORS},
    summary="Recall the credit a meter-side meter holds (trip, read, clear, back to the balance)",
)
def create_recall(request: HttpRequest, account_id: int, body: RecallIn) -> Any:
    account = get_visible(queries.accounts(), request, account_id, _("Account"))
    allow(request, Capability.CLOSE_ACCOUNT, account.tenant.site_id)
    point = _recall_point(request, account, body.point)
    key = KEY_PREFIX + body.idempotency_key if body.idempotency_key else None
    clear_key = recall.recall_key(key)
    existed = clear_key is not None and Command.objects.filter(idempotency_key=clear_key).exists()
    with refusals("point"):
        recall.recall_meter_credit(account, point, caller(request), body.reason, key)
    found = recall.latest_recall(point, account)
    assert found is not None  # noqa: S101 — just queued (or replayed) for this account
    return Status(200 if existed else 201, _recall_out(account, found))


def _recall_point(request: HttpRequest, account: Account, pk: int | None) -> MeteringPoint:
    """The named point (of the caller's sites), or the account's only meter-side point."""
    if pk is not None:
        return get_visible(MeteringPoint.objects.all(), request, pk, _("Metering point"), "point")
    with refusals("point"):
        point = meter_side_point(account)
    if point is None:
        raise ApiError(409, _("The account pays for no meter-side point."), "point")
    return point


def _recall_out(account: Account, found: recall.Recall) -> dict[str, Any]:
    command = found.command
    return {
        "account": account.pk,
        "point": command.point_id,
        "command": command.pk,
        "state": found.state,
        "held": found.held,
        "returned": found.returned,
        "drift": found.drift,
        "failure_reason": found.reason,
        "requested_at": command.created_at,
        "completed_at": command.completed_at,
    }
