"""Template helpers of the console: what the person may do, and how values are shown."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

from pems.access.scope import role_of
from pems.console.access import capabilities_at

register = template.Library()


@register.simple_tag(takes_context=True)
def console_caps(context: template.Context) -> frozenset[str]:
    """The capabilities of the signed-in person (anywhere they can see)."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return frozenset()
    return capabilities_at(request.user, None)


@register.simple_tag(takes_context=True)
def console_role(context: template.Context) -> str:
    request = context.get("request")
    role = role_of(request.user) if request is not None else None
    return str(role.label) if role is not None else ""


@register.filter
def dash(value: Any) -> Any:
    """An unknown value shows as a dash, never as zero."""
    return "–" if value is None or value == "" else value


@register.filter
def signed(value: Decimal | None) -> str:
    if value is None:
        return "–"
    return f"+{value}" if value > 0 else str(value)


@register.filter
def age(instant: datetime | None) -> str:
    """How long ago, in the unit a person reads at a glance."""
    if instant is None:
        return _("never")
    seconds = int((timezone.now() - instant).total_seconds())
    if seconds < 120:
        return _("%(n)s s ago") % {"n": seconds}
    if seconds < 7200:
        return _("%(n)s min ago") % {"n": seconds // 60}
    return _("%(n)s h ago") % {"n": seconds // 3600}


@register.filter
def seconds(value: int | None) -> str:
    if value is None:
        return _("never")
    return _("%(n)s s") % {"n": value}


@register.filter
def relay(value: bool | None) -> str:
    if value is None:
        return "–"
    return _("closed (on)") if value else _("open (off)")
