"""Events: what the meters reported (relay, alarms, offline …) and what the policy did.

Meter events and prepaid events live in two tables; one page of both is a
UNION of (source, id, at) ordered by time, then each table's rows by id.
"""

from datetime import datetime
from typing import Any, Literal

from django.db.models import CharField, Q, QuerySet, Value
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from pydantic import AwareDatetime

from pems.accounts.models import Account
from pems.api.common import Page, visible
from pems.api.schemas.metering import EventOut
from pems.billing.models import PrepaidEvent
from pems.metering.models import MeterEvent

router = Router(tags=["events"])


class EventQuery(Schema):
    source: Literal["meter", "prepaid"] | None = Field(None, description="Only one kind of event.")
    site: int | None = None
    point: int | None = None
    meter: str | None = Field(None, description="A meter number.")
    account: int | None = Field(None, description="Prepaid events of this account.")
    kind: str | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class EventPage(Schema):
    items: list[EventOut]
    count: int


@router.get("", response=EventPage, summary="Meter and prepaid events, newest first")
def list_events(
    request: HttpRequest, query: Query[EventQuery], page: Query[Page.Input]
) -> dict[str, Any]:
    sources = _sources(request, query)
    keys = [
        qs.order_by()  # a side of a UNION may not be ordered itself
        .annotate(source=Value(name, output_field=CharField()))
        .values_list("source", "pk", "at")
        for name, qs in sources.items()
    ]
    union = keys[0].union(*keys[1:], all=True) if len(keys) > 1 else keys[0]
    window = list(union.order_by("-at", "source", "-pk")[page.offset : page.offset + page.limit])
    return {
        "items": _rows(sources, window),
        "count": sum(qs.count() for qs in sources.values()),
    }


def _sources(request: HttpRequest, query: EventQuery) -> dict[str, QuerySet[Any]]:
    when = Q()
    if query.since is not None:
        when &= Q(at__gte=query.since)
    if query.until is not None:
        when &= Q(at__lt=query.until)
    if query.kind is not None:
        when &= Q(kind=query.kind)
    sources: dict[str, QuerySet[Any]] = {}
    if query.source in (None, "meter") and query.account is None:
        meter = visible(MeterEvent.objects.filter(when), request)
        if query.site is not None:
            meter = meter.filter(point__meter__gateway__site_id=query.site)
        if query.point is not None:
            meter = meter.filter(point_id=query.point)
        if query.meter is not None:
            meter = meter.filter(Q(point__meter__number=query.meter) | Q(point__number=query.meter))
        sources["meter"] = meter
    if query.source in (None, "prepaid"):
        # Prepaid events reach their site through the account: scope the accounts.
        prepaid = PrepaidEvent.objects.filter(
            when, account__in=visible(Account.objects.all(), request)
        )
        if query.site is not None:
            prepaid = prepaid.filter(account__tenant__site_id=query.site)
        if query.point is not None:
            prepaid = prepaid.filter(point_id=query.point)
        if query.meter is not None:
            prepaid = prepaid.filter(
                Q(point__meter__number=query.meter) | Q(point__number=query.meter)
            )
        if query.account is not None:
            prepaid = prepaid.filter(account_id=query.account)
        sources["prepaid"] = prepaid
    if not sources:  # meter events carry no account: none match an account filter
        sources["meter"] = MeterEvent.objects.none()
    return sources


def _rows(sources: dict[str, QuerySet[Any]], window: list[tuple[str, int, datetime]]) -> list[Any]:
    wanted: dict[str, list[int]] = {}
    for source, pk, _at in window:
        wanted.setdefault(source, []).append(pk)
    loaded: dict[tuple[str, int], dict[str, Any]] = {}
    if ids := wanted.get("meter"):
        for event in MeterEvent.objects.filter(pk__in=ids).select_related("point__meter"):
            loaded["meter", event.pk] = _meter_event(event)
    if ids := wanted.get("prepaid"):
        for event in PrepaidEvent.objects.filter(pk__in=ids).select_related("point__meter"):
            loaded["prepaid", event.pk] = _prepaid_event(event)
    return [loaded[source, pk] for source, pk, _at in window]


def _meter_event(event: MeterEvent) -> dict[str, Any]:
    return {
        "source": "meter",
        "id": event.pk,
        "at": event.at,
        "kind": event.kind,
        "point": event.point_id,
        "meter_number": event.point.meter_number,
        "account": None,
        "alarm_level": None,
        "balance": None,
        "detail": event.detail,
        "before": event.before,
        "after": event.after,
    }


def _prepaid_event(event: PrepaidEvent) -> dict[str, Any]:
    point = event.point
    return {
        "source": "prepaid",
        "id": event.pk,
        "at": event.at,
        "kind": event.kind,
        "point": event.point_id,
        "meter_number": point.meter_number if point is not None else None,
        "account": event.account_id,
        "alarm_level": event.alarm,
        "balance": event.balance,
        "detail": event.reason,
        "before": {},
        "after": {},
    }
