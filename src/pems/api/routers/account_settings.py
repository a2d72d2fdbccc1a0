"""An account's tariff and thresholds changed, and its meter-side meters told.

The orchestration is ``pems.billing.meter_settings``'s, shared with the console.
Command keys: ``api:<idempotency_key>:<point>:<kind>`` when the client sent a
key, else one fresh key per request."""

import uuid
from collections.abc import Callable
from datetime import UTC
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from pems.access.roles import Capability
from pems.accounts.models import Account
from pems.api import queries
from pems.api.common import allow, caller, get_visible, lock_visible_account
from pems.api.errors import ApiError, refusals
from pems.api.routers.accounts import get_account
from pems.api.schemas.accounts import ThresholdsIn, ThresholdsOut
from pems.api.schemas.common import WRITE_ERRORS
from pems.api.schemas.sales import KEY_PREFIX
from pems.api.schemas.tariffs import TariffAssignmentIn, TariffAssignmentOut
from pems.billing import meter_settings
from pems.billing.models import AccountTariff, Tariff
from pems.billing.tariffs import TariffChangeRefused
from pems.control.models import Command, CommandKind
from pems.inventory.choices import Utility
from pems.inventory.models import MeteringPoint

router = Router(tags=["accounts"])


def _keys(client_key: str | None, kind: str) -> Callable[[MeteringPoint], str]:
    """Each command's idempotency key: the client's, else one fresh per request."""
    base = f"{KEY_PREFIX}{client_key}" if client_key else f"api-request:{uuid.uuid4().hex}"
    return lambda point: f"{base}:{point.pk}:{kind}"[:100]


@router.post(
    "/{account_id}/tariff",
    response={201: TariffAssignmentOut, 200: TariffAssignmentOut, **WRITE_ERRORS},
    summary="Change an account's tariff from a moment on (a repeated request answers 200)",
)
def change_tariff(request: HttpRequest, account_id: int, body: TariffAssignmentIn) -> Any:
    key_of = _keys(body.idempotency_key, CommandKind.SET_PRICES)
    with transaction.atomic():
        account = lock_visible_account(request, account_id)  # one request at a time per account
        allow(request, Capability.TARIFF, account.tenant.site_id)
        tariff = get_visible(Tariff.objects.all(), request, body.tariff, _("Tariff"), "tariff")
        _check_tariff(account, tariff)
        earlier = AccountTariff.objects.filter(
            account=account, effective_from=body.effective_from
        ).first()
        if earlier is not None:
            return Status(200, _replayed(earlier, tariff, account, key_of))
        if body.idempotency_key and _key_used(body.idempotency_key):
            raise ApiError(
                409,
                _("This idempotency key was already used for a different request."),
                "idempotency_key",
            )
        try:
            with refusals("tariff"):
                assignment, told = meter_settings.set_tariff(
                    account, tariff, body.effective_from, caller(request), body.reason, key_of
                )
        except TariffChangeRefused as exc:
            raise ApiError(409, str(exc), "effective_from") from exc
        except meter_settings.MeterSettingRefused as exc:
            raise ApiError(422, str(exc), "tariff") from exc
    return Status(201, _assignment_out(assignment, tariff, len(told)))


def _check_tariff(account: Account, tariff: Tariff) -> None:
    """A tariff of the account's site, for what its meters measure."""
    if tariff.site_id != account.tenant.site_id:
        raise ApiError(422, _("The tariff belongs to another site."), "tariff")
    other = MeteringPoint.objects.filter(
        account_links__account=account, account_links__released_at__isnull=True
    ).exclude(utility=tariff.utility)
    if other.exists():
        raise ApiError(
            422,
            _("%(tariff)s prices %(utility)s, which the account's meters do not measure.")
            % {"tariff": tariff.name, "utility": Utility(tariff.utility).label},
            "tariff",
        )


def _replayed(
    earlier: AccountTariff,
    tariff: Tariff,
    account: Account,
    key_of: Callable[[MeteringPoint], str],
) -> dict[str, Any]:
    """The assignment already stored at that start: the answer again, if it is this tariff."""
    if earlier.tariff_id != tariff.pk:
        raise ApiError(
            409,
            _("The account already changes tariff at that moment, to another tariff."),
            "effective_from",
        )
    keys = [key_of(point) for point in meter_settings.meter_side_points(account)]
    return _assignment_out(
        earlier, tariff, Command.objects.filter(idempotency_key__in=keys).count()
    )


def _key_used(client_key: str) -> bool:
    return Command.objects.filter(idempotency_key__startswith=f"{KEY_PREFIX}{client_key}:").exists()


def _assignment_out(assignment: AccountTariff, tariff: Tariff, told: int) -> dict[str, Any]:
    return {
        "id": assignment.pk,
        "account": assignment.account_id,
        "tariff": tariff.pk,
        "tariff_name": tariff.name,
        "effective_from": assignment.effective_from.astimezone(UTC),
        "meters_told": told,
    }


@router.patch(
    "/{account_id}/thresholds",
    response={200: ThresholdsOut, **WRITE_ERRORS},
    summary="Change an account's alarm thresholds, overdraft limit or reconnect minimum",
)
def change_thresholds(request: HttpRequest, account_id: int, body: ThresholdsIn) -> Any:
    account = get_visible(queries.accounts(), request, account_id, _("Account"))
    allow(request, Capability.THRESHOLDS, account.tenant.site_id)
    sent = body.dict(exclude_unset=True)
    values = {
        name: None if value is None else Decimal(value)
        for name, value in sent.items()
        if name != "reason"
    }
    if not values:
        raise ApiError(422, _("Send at least one threshold to change."))
    told: list[Command] = []
    # Values already in force change nothing and queue nothing (a repeated PATCH).
    if any(getattr(account, name) != value for name, value in values.items()):
        with refusals():
            told = meter_settings.set_thresholds(
                account,
                values,
                caller(request),
                body.reason,
                _keys(None, CommandKind.SET_ALARMS),
            )
    return {"account": get_account(request, account.pk), "meters_told": len(told)}
