"""Replacing a metering point's meter (换表): the console's action, once per key.

``pems.billing.replacement.replace_meter`` does the exchange in one
transaction: the old meter's account of energy is closed at its final reading
(server-side: charged up to it; meter-side: its spending booked and the credit
it still held pushed to the new meter), and the new meter takes over the point.
The checks here are the console form's. The exchange's ``meter.replace``
audit event keeps the client's key and what the exchange did; the answer is
read from it, so a retry finds the event and answers the same, storing
nothing new.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from pems.access.roles import Capability
from pems.accounts.models import Account
from pems.api.common import allow, caller, get_visible
from pems.api.errors import ApiError, refusals
from pems.api.schemas.common import WRITE_ERRORS
from pems.api.schemas.inventory import ReplacementIn, ReplacementOut
from pems.api.schemas.sales import KEY_PREFIX
from pems.audit.models import AuditEvent
from pems.billing.replacement import (
    FinalReading,
    FinalTotalTooLow,
    lock_exchange,
    replace_meter,
)
from pems.billing.settlement import SettlementBlocked
from pems.domain.errors import DomainError, PrecisionError
from pems.domain.money import Money
from pems.inventory.choices import FeeControl
from pems.inventory.models import Meter, MeteringPoint

router = Router(tags=["metering points"])

REPLACE_EVENT = "meter.replace"
#: The new meter's model field → the request field it comes from.
_RENAMES = {"number": "new_meter_number"}


@router.post(
    "/{point_id}/replacement",
    response={201: ReplacementOut, 200: ReplacementOut, **WRITE_ERRORS},
    summary="Replace the point's meter (换表) (a retried key answers 200)",
)
def replace(request: HttpRequest, point_id: int, body: ReplacementIn) -> Any:
    key = KEY_PREFIX + body.idempotency_key
    found = get_visible(
        MeteringPoint.objects.select_related("meter__gateway"),
        request,
        point_id,
        _("Metering point"),
    )
    allow(request, Capability.REPLACE_METER, _site_id(found))
    with transaction.atomic():
        account, point = lock_exchange(found)  # one exchange at a time per point
        if (earlier := _earlier_replacement(key, point, body.new_meter_number)) is not None:
            return Status(200, _answer(point, earlier))
        meter_side = point.fee_control == FeeControl.METER_SIDE
        money_field = "old_remaining_credit" if meter_side else "old_final_total"
        with _refused(body.new_meter_number), refusals(money_field, _RENAMES):
            replace_meter(
                point,
                body.new_meter_number,
                _final_reading(body, point, account),
                Decimal(body.new_initial_total),
                caller(request),
                body.reason,
                new_purchase_count=body.new_purchase_count,
                idempotency_key=key,
            )
        event = _event(key)
        assert event is not None  # noqa: S101 — replace_meter records it with the key
    return Status(201, _answer(point, event))


def _site_id(point: MeteringPoint) -> int:
    return int(point.meter.gateway.site_id)


def _event(key: str) -> AuditEvent | None:
    """The exchange made with the client's ``key``, if any."""
    return AuditEvent.objects.filter(
        action=REPLACE_EVENT,
        object_type=MeteringPoint._meta.label_lower,
        changes__idempotency_key=key,
    ).first()


def _earlier_replacement(key: str, point: MeteringPoint, new_number: str) -> AuditEvent | None:
    """The exchange this very request already made; 409 if the key did anything else."""
    event = _event(key)
    if event is None:
        return None
    if event.object_id != str(point.pk) or event.changes["meter"][1] != new_number:
        raise ApiError(
            409,
            _("This idempotency key was already used for a different request."),
            "idempotency_key",
        )
    return event


def _final_reading(
    body: ReplacementIn, point: MeteringPoint, account: Account | None
) -> FinalReading:
    """The old meter's final reading, checked as the console's form checks it."""
    if point.meter.address_count > 1:
        raise ApiError(
            409, _("A multi-circuit box is replaced as a box, not one circuit."), "point"
        )
    total = Decimal(body.old_final_total)
    credit = body.old_remaining_credit
    if point.fee_control != FeeControl.METER_SIDE:
        if credit is not None:
            raise ApiError(
                422,
                _("A server-side meter holds no credit: leave this out."),
                "old_remaining_credit",
            )
        if body.new_purchase_count:
            raise ApiError(
                422,
                _("A server-side meter counts no purchases: leave this out."),
                "new_purchase_count",
            )
        return FinalReading(total)
    if credit is None:
        if account is not None:
            raise ApiError(
                422,
                _("Needed to carry the tenant's credit to the new meter."),
                "old_remaining_credit",
            )
        return FinalReading(total)
    currency = point.meter.gateway.site.currency
    try:
        remaining = Money.of(credit, currency).amount
    except PrecisionError:
        raise ApiError(
            422,
            _("%(amount)s has more decimals than %(currency)s allows.")
            % {"amount": credit, "currency": currency},
            "old_remaining_credit",
        ) from None
    return FinalReading(total, remaining)


@contextmanager
def _refused(new_number: str) -> Iterator[None]:
    """``replace_meter``'s refusals that :func:`refusals` does not name."""
    try:
        yield
    except IntegrityError:
        # The number taken by a concurrent exchange after full_clean had checked it.
        if Meter.objects.filter(number=new_number, removed_on__isnull=True).exists():
            raise ApiError(
                422, _("Another installed meter has this meter number."), "new_meter_number"
            ) from None
        raise
    except SettlementBlocked as exc:  # e.g. no tariff in force for the account
        raise ApiError(409, str(exc)) from exc
    except DomainError as exc:
        raise ApiError(409, exc.message.text(_)) from exc
    except FinalTotalTooLow as exc:
        raise ApiError(422, str(exc), "old_final_total") from exc
    except ValueError as exc:  # replace_meter's own (checked above: a multi-circuit box …)
        raise ApiError(409, str(exc), "point") from exc


def _answer(point: MeteringPoint, event: AuditEvent) -> dict[str, Any]:
    """The exchange as its audit event keeps it (the first answer and every retry alike)."""
    done = event.changes
    old_number, new_number = done["meter"]
    return {
        "point": point.pk,
        "old_meter": old_number,
        "new_meter": new_number,
        "charged": _amount(done["charged"]),
        # A meter in overdraft carries nothing: its debt stays with the account.
        "carried_credit": _amount(done["carried_credit"], floor=Decimal(0)),
        "push_command": done["push_command"],
        "currency": point.meter.gateway.site.currency,
        "replaced_at": event.at.astimezone(UTC),
    }


def _amount(stored: str | None, floor: Decimal | None = None) -> Decimal | None:
    if stored is None:
        return None
    return Decimal(stored) if floor is None else max(Decimal(stored), floor)
