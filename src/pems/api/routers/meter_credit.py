"""A meter-side meter's credit: as last reconciled with the ledger, credit found on it taken
over (a site going live, or drift explained), and recalled before the account closes."""

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from pems.access.roles import Capability
from pems.accounts.models import Account
from pems.api import queries
from pems.api.common import allow, caller, get_visible
from pems.api.errors import ApiError, refusals
from pems.api.money import money_of
from pems.api.schemas.accounts import MeterCreditOut, RecallIn, RecallOut, TakeoverIn, TakeoverOut
from pems.api.schemas.common import READ_ERRORS, WRITE_ERRORS
from pems.api.schemas.sales import KEY_PREFIX
from pems.billing import recall, takeover
from pems.billing.credit import meter_side_point
from pems.billing.models import MeterCreditMirror
from pems.control.models import Command
from pems.inventory.models import MeteringPoint
from pems.ledger import chart

router = Router(tags=["accounts"])


@router.get(
    "/{account_id}/meter-credit",
    response={200: MeterCreditOut, **READ_ERRORS},
    summary="The meter's credit as last reconciled with the ledger, and any drift",
)
def get_meter_credit(request: HttpRequest, account_id: int, point: int | None = None) -> Any:
    account = get_visible(queries.accounts(), request, account_id, _("Account"))
    found = _meter_side(request, account, point)
    mirror = MeterCreditMirror.objects.filter(account=account, point=found).first()
    if mirror is None:
        raise ApiError(404, _("PEMS has not reconciled this meter's credit yet."))
    return _credit_out(account, found, mirror)


@router.post(
    "/{account_id}/meter-credit-takeover",
    response={201: TakeoverOut, 200: TakeoverOut, **WRITE_ERRORS},
    summary="Take over credit found on a meter (bought before PEMS) as the tenant's",
)
def take_over(request: HttpRequest, account_id: int, body: TakeoverIn) -> Any:
    account = get_visible(queries.accounts(), request, account_id, _("Account"))
    allow(request, Capability.CLOSE_ACCOUNT, account.tenant.site_id)
    found = _meter_side(request, account, body.point)
    money = money_of(body.amount, body.currency, account.tenant.site)
    with refusals("amount"):
        posted = takeover.take_over_meter_credit(
            account, found, money, caller(request), body.reason, KEY_PREFIX + body.idempotency_key
        )
    out = {
        "entry": posted.entry.pk,
        "account": account.pk,
        "point": found.pk,
        "amount": money.amount,
        "on_meter": chart.meter_credit(account, found).balance,
        "created_at": posted.entry.created_at,
    }
    return Status(201 if posted.created else 200, out)


@router.get(
    "/{account_id}/meter-credit-recall",
    response={200: RecallOut, **READ_ERRORS},
    summary="The latest recall of the account's meter credit",
)
def get_recall(request: HttpRequest, account_id: int, point: int | None = None) -> Any:
    account = get_visible(queries.accounts(), request, account_id, _("Account"))
    found = recall.latest_recall(_meter_side(request, account, point), account)
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
    point = _meter_side(request, account, body.point)
    key = KEY_PREFIX + body.idempotency_key if body.idempotency_key else None
    clear_key = recall.recall_key(key)
    existed = clear_key is not None and Command.objects.filter(idempotency_key=clear_key).exists()
    with refusals("point"):
        recall.recall_meter_credit(account, point, caller(request), body.reason, key)
    found = recall.latest_recall(point, account)
    assert found is not None  # noqa: S101 — just queued (or replayed) for this account
    return Status(200 if existed else 201, _recall_out(account, found))


def _meter_side(request: HttpRequest, account: Account, pk: int | None) -> MeteringPoint:
    """The named point (of the caller's sites), or the account's only meter-side point."""
    if pk is not None:
        return get_visible(MeteringPoint.objects.all(), request, pk, _("Metering point"), "point")
    with refusals("point"):
        point = meter_side_point(account)
    if point is None:
        raise ApiError(409, _("The account pays for no meter-side point."), "point")
    return point


def _credit_out(
    account: Account, point: MeteringPoint, mirror: MeterCreditMirror
) -> dict[str, Any]:
    return {
        "account": account.pk,
        "point": point.pk,
        "read_at": mirror.read_at,
        "reported": mirror.reported,
        "expected": mirror.expected,
        "drift": mirror.drift,
        "on_meter": chart.balances(chart.meter_credit_ref(account, point))[0],
        "reconciled_at": mirror.reconciled_at,
    }


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
