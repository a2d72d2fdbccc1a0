"""Commands to meters: relay control a person asks for, and the queue's view of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema

from pems.api.schemas.common import IdempotencyKey, RequiredReason
from pems.api.schemas.sales import KEY_PREFIX

#: What a person may queue through the API: the relay commands. Credit pushes,
#: prices and alarm thresholds are queued by the actions that own them.
RelayKind = Literal["trip", "close", "keep_power_on", "keep_power_off", "resume_prepaid"]


class CommandIn(Schema):
    point: int = Field(description="The metering point's id.")
    kind: RelayKind = Field(
        description="trip, close, keep_power_on / keep_power_off (保电 on the meter), "
        "resume_prepaid (hand the relay back to prepaid control)."
    )
    reason: RequiredReason
    idempotency_key: IdempotencyKey | None = Field(
        None, description="Optional: a retried request with the same key queues once."
    )


class CancelIn(Schema):
    reason: RequiredReason


class CommandOut(Schema):
    """A command and where it is: pending → sent → confirmed | failed."""

    id: int
    command_id: UUID
    site: int
    point: int
    meter: int
    meter_number: str
    kind: str
    status: str
    payload: dict[str, Any]
    purchase_count: int | None
    idempotency_key: str | None = Field(description="The key the API client sent, if any.")
    attempts: int
    created_at: datetime
    not_before: datetime | None
    sent_at: datetime | None
    completed_at: datetime | None
    answer: dict[str, Any]
    failure_kind: str
    failure_reason: str
    requested_by: str

    @staticmethod
    def resolve_site(obj: Any) -> int:
        return int(obj.meter.gateway.site_id)

    @staticmethod
    def resolve_point(obj: Any) -> int:
        return int(obj.point_id)

    @staticmethod
    def resolve_meter(obj: Any) -> int:
        return int(obj.meter_id)

    @staticmethod
    def resolve_meter_number(obj: Any) -> str:
        return str(obj.point.meter_number)

    @staticmethod
    def resolve_idempotency_key(obj: Any) -> str | None:
        key = obj.idempotency_key or ""
        return key.removeprefix(KEY_PREFIX) if key.startswith(KEY_PREFIX) else None
