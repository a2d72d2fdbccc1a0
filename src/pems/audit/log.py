"""Recording audit events: the one function every action calls."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.forms.models import model_to_dict

from pems.audit.models import AuditEvent
from pems.core import rows


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The object's concrete field values, as the audit log stores them."""
    return {
        key: (str(value) if not isinstance(value, (int, str, bool, type(None))) else value)
        for key, value in model_to_dict(obj).items()
        if not isinstance(value, list)
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Field → [before, after] for the fields that changed."""
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    }


def record(
    actor: Any,
    action: str,
    obj: models.Model,
    changes: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit event; call it inside the transaction that makes the change."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = user.get_username() if user is not None else str(actor or "system")
    event = AuditEvent(
        actor=user,
        actor_label=label,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=changes or {},
        reason=reason,
    )
    # One plain INSERT: every action writes one, and the ORM's save() costs several times that.
    rows.insert(event)
    return event
