"""Control actions: the one way to ask for a command to a meter.

``enqueue`` is idempotent on its key and allocates purchase counts under a
row lock, so two recharges racing for one meter never get the same count.
The collector picks commands up from the queue; nothing here touches a bus.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from pems.audit.log import record
from pems.control.models import Command, CommandKind, CommandStatus, payload_errors
from pems.inventory.models import MeteringPoint


class IdempotencyConflict(ValueError):
    """An idempotency key was reused for a different command."""


def next_purchase_count(point: MeteringPoint) -> int:
    """The count the next credit push to ``point`` must carry: last known + 1.

    "Last known" is the larger of the meter's count at its last reading and
    the highest count of any push not failed for good. Call it inside the
    transaction that holds the point's row lock (``enqueue`` does).
    """
    from pems.metering.models import PointState

    read = PointState.objects.filter(point=point).values_list("purchase_count", flat=True).first()
    queued = (
        Command.objects.filter(point=point, kind=CommandKind.PUSH_CREDIT)
        .exclude(status=CommandStatus.FAILED)
        .aggregate(top=Max("purchase_count"))["top"]
    )
    return max(read or 0, queued or 0) + 1


@transaction.atomic
def enqueue(
    point: MeteringPoint,
    kind: str,
    payload: Mapping[str, Any] | None = None,
    *,
    idempotency_key: str | None = None,
    purchase_count: int | None = None,
    not_before: datetime | None = None,
    actor: Any = None,
    reason: str = "",
    by_policy: bool = False,
) -> Command:
    """Queue ``kind`` for ``point`` and return the command (the existing one on a replayed key).

    ``payload`` amounts are decimal strings: ``{"amount": "100.00"}`` for a
    credit push (``purchase_count`` defaults to :func:`next_purchase_count`),
    ``{"sharp", "peak", "flat", "valley"}`` for prices, ``{"alarm1", "alarm2"}``
    (optionally ``"overdraft"``) for alarm thresholds, ``{"account": <id>}`` for a
    credit clear (``pems.billing.recall`` queues it). Raises
    ``ValidationError`` (field ``payload``/``kind``) on bad input and
    :class:`IdempotencyConflict` when the key names a different command.
    """
    body = dict(payload or {})
    if kind not in CommandKind.values:
        raise ValidationError({"kind": f"unknown command kind {kind!r}"})
    errors = payload_errors(kind, body)
    if errors:
        raise ValidationError({"payload": errors})
    if idempotency_key is not None:
        existing = Command.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replayed(existing, point, kind, body)
    locked = MeteringPoint.objects.select_for_update().select_related("meter").get(pk=point.pk)
    if kind == CommandKind.PUSH_CREDIT and purchase_count is None:
        purchase_count = next_purchase_count(locked)
    command = Command(
        point=locked,
        meter=locked.meter,
        kind=kind,
        payload=body,
        purchase_count=purchase_count if kind == CommandKind.PUSH_CREDIT else None,
        idempotency_key=idempotency_key,
        not_before=not_before,
        requested_by=str(actor or "system")[:150],
        by_policy=by_policy,
    )
    # Fields and clean() here; uniqueness and the check constraints are the database's
    # (the key was looked up above, command_id is a fresh UUID, and the point's row lock
    # keeps purchase counts apart): asking for them again cost five statements a push.
    command.full_clean(
        exclude=["point", "meter"], validate_unique=False, validate_constraints=False
    )
    command.save()
    record(actor, "control.enqueue", command, {"kind": kind, **_audit_payload(command)}, reason)
    return command


def _replayed(existing: Command, point: MeteringPoint, kind: str, body: dict[str, Any]) -> Command:
    if existing.point_id != point.pk or existing.kind != kind or existing.payload != body:
        raise IdempotencyConflict(
            _(
                "idempotency key %(key)s already names command %(command)s "
                "(%(kind)s for point %(point)s)"
            )
            % {
                "key": repr(existing.idempotency_key),
                "command": existing.command_id,
                "kind": existing.get_kind_display(),
                "point": existing.point_id,
            }
        )
    return existing


def _audit_payload(command: Command) -> dict[str, Any]:
    extra: dict[str, Any] = dict(command.payload)
    if command.purchase_count is not None:
        extra["purchase_count"] = command.purchase_count
    return extra


@transaction.atomic
def cancel(command: Command, *, actor: Any = None, reason: str = "") -> bool:
    """Fail a still-pending command before it is sent; False if it was already sent or done."""
    updated = Command.objects.filter(pk=command.pk, status=CommandStatus.PENDING).update(
        status=CommandStatus.FAILED,
        failure_kind="terminal",
        failure_reason="cancelled",
        completed_at=timezone.now(),
    )
    if updated:
        record(actor, "control.cancel", command, {}, reason)
    return bool(updated)
