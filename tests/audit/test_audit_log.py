"""The audit log is append-only and records who, what, when and why."""

from __future__ import annotations

import pytest

from pems.audit.log import diff, record
from pems.audit.models import AuditEvent
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_an_event_names_actor_object_changes_and_reason():
    site = SiteFactory(name="Plaza")
    event = record("importer", "site.rename", site, {"name": ["Old", "Plaza"]}, "typo")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_label, stored.action, stored.object_type, stored.object_id) == (
        "importer",
        "site.rename",
        "inventory.site",
        str(site.pk),
    )
    assert stored.changes == {"name": ["Old", "Plaza"]}
    assert stored.reason == "typo"


def test_events_cannot_be_updated_or_deleted():
    event = record(None, "x", SiteFactory())
    event.reason = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_diff_keeps_only_changed_fields():
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {"b": [2, 3], "c": [None, 4]}
