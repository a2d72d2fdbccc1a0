"""Recording audit events: the one function every action calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, models
from django.forms.models import model_to_dict

from pems.audit.models import OBJECT_REPR_LENGTH, AuditEvent
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
    """Append one audit event; call it inside the transaction that makes the change.

    Inside :func:`recorded_together` the event is written on its exit (its id unset).
    """
    event = unsaved(actor, action, obj, changes, reason)
    if holding():
        _held.events.append(event)
    else:
        # One plain INSERT: every action writes one, and the ORM's save() costs several times that.
        rows.insert(event)
    return event


def unsaved(
    actor: Any,
    action: str,
    obj: models.Model,
    changes: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """The event :func:`record` would write, not written: for a caller whose own statement
    inserts it (``ledger.sql.post_entry``, with the object's id once it has one)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = user.get_username() if user is not None else str(actor or "system")
    return AuditEvent(
        actor=user,
        actor_label=label,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:OBJECT_REPR_LENGTH],
        changes=changes or {},
        reason=reason,
    )


def holding() -> bool:
    """Whether :func:`record` would hold an event now rather than write it."""
    return getattr(_held, "events", None) is not None and _savepoints() == _held.savepoints


_held = threading.local()  # per thread, as Django's connections are


@contextmanager
def recorded_together() -> Iterator[None]:
    """Inside, ``record`` holds its events and writes them all in one INSERT on exit.

    For an action that records several events in one transaction (a meter-side
    sale records three): one statement instead of one each, still in the
    transaction of the changes they describe. On an exception none is written
    (the transaction is rolled back). An event recorded inside a savepoint
    opened within is written at once, so that it rolls back with that savepoint.
    Nested uses join the outer one.
    """
    if getattr(_held, "events", None) is not None:
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("recorded_together() needs the action's transaction")
    _held.events, _held.savepoints = [], _savepoints()
    try:
        yield
        events, _held.events = _held.events, None
        if events:
            rows.insert_many(events)
    finally:
        _held.events = None


def _savepoints() -> list[str]:
    """The savepoints open now (``atomic(savepoint=False)`` blocks open none)."""
    return [sid for sid in connection.savepoint_ids if sid is not None]
