"""Commands: trip, close, keep power, resume prepaid; the queue; cancelling what is unsent."""

from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import FilterLookup, FilterSchema, Query, Router, Status
from ninja.pagination import paginate
from pydantic import AwareDatetime

from pems.access.roles import Capability
from pems.api.common import Page, allow, caller, get_visible, visible
from pems.api.errors import ApiError, refusals
from pems.api.schemas.common import READ_ERRORS, WRITE_ERRORS
from pems.api.schemas.control import CancelIn, CommandIn, CommandOut
from pems.api.schemas.sales import KEY_PREFIX
from pems.billing import relays
from pems.control import actions as control
from pems.control.models import Command, CommandKind, CommandStatus
from pems.inventory.models import MeteringPoint

router = Router(tags=["commands"])

#: Kinds the API may cancel: a credit push is withdrawn by reversing its sale.
_CANCELLABLE = {
    CommandKind.TRIP,
    CommandKind.CLOSE,
    CommandKind.KEEP_POWER_ON,
    CommandKind.KEEP_POWER_OFF,
    CommandKind.RESUME_PREPAID,
}


class CommandFilters(FilterSchema):
    site: Annotated[int | None, FilterLookup("meter__gateway__site_id")] = None
    point: Annotated[int | None, FilterLookup("point_id")] = None
    meter: Annotated[str | None, FilterLookup(["meter__number", "point__number"])] = None
    status: Annotated[CommandStatus | None, FilterLookup("status")] = None
    kind: Annotated[CommandKind | None, FilterLookup("kind")] = None
    since: Annotated[AwareDatetime | None, FilterLookup("created_at__gte")] = None
    until: Annotated[AwareDatetime | None, FilterLookup("created_at__lt")] = None


def _commands() -> Any:
    return Command.objects.select_related("meter__gateway", "point__meter").order_by(
        "-created_at", "-pk"
    )


@router.get("", response=list[CommandOut], summary="List commands, newest first")
@paginate(Page)
def list_commands(request: HttpRequest, filters: Query[CommandFilters]) -> Any:
    return filters.filter(visible(_commands(), request))


@router.get("/{command_pk}", response={200: CommandOut, **READ_ERRORS}, summary="One command")
def get_command(request: HttpRequest, command_pk: int) -> Any:
    return get_visible(_commands(), request, command_pk, _("Command"))


@router.post(
    "",
    response={201: CommandOut, 200: CommandOut, **WRITE_ERRORS},
    summary="Queue a relay command for a metering point",
)
def create_command(request: HttpRequest, body: CommandIn) -> Any:
    point = get_visible(
        MeteringPoint.objects.select_related("meter__gateway"),
        request,
        body.point,
        _("Metering point"),
        "point",
    )
    allow(request, Capability.CONTROL, point.meter.gateway.site_id)
    key = KEY_PREFIX + body.idempotency_key if body.idempotency_key else None
    existed = key is not None and Command.objects.filter(idempotency_key=key).exists()
    with refusals("point"):
        command = relays.order_relay(point, body.kind, caller(request), body.reason, key)
    return Status(200 if existed else 201, get_command(request, command.pk))


@router.post(
    "/{command_pk}/cancel",
    response={200: CommandOut, **WRITE_ERRORS},
    summary="Cancel a command not yet sent",
)
def cancel_command(request: HttpRequest, command_pk: int, body: CancelIn) -> Any:
    command = get_visible(_commands(), request, command_pk, _("Command"))
    allow(request, Capability.CONTROL, command.meter.gateway.site_id)
    if command.kind not in _CANCELLABLE:
        raise ApiError(
            409,
            _("A %(kind)s command is withdrawn by the action that queued it: reverse the sale.")
            % {"kind": command.get_kind_display()},
        )
    with refusals():
        cancelled = control.cancel(command, actor=caller(request), reason=body.reason)
    current = get_command(request, command.pk)
    if not cancelled:
        raise ApiError(
            409,
            _("Command %(id)s is already %(status)s; only a pending command can be cancelled.")
            % {"id": command.pk, "status": current.get_status_display()},
        )
    return current
