"""Interval readings of one metering point over a time range."""

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import AwareDatetime

from pems.api.common import Page, get_visible
from pems.api.schemas.metering import ReadingOut
from pems.inventory.models import MeteringPoint
from pems.metering.models import IntervalReading

router = Router(tags=["readings"])


class ReadingQuery(Schema):
    point: int = Field(description="The metering point's id.")
    since: AwareDatetime | None = Field(None, description="Intervals starting at or after this.")
    until: AwareDatetime | None = Field(None, description="Intervals starting before this.")


@router.get("", response=list[ReadingOut], summary="Interval readings of a point, oldest first")
@paginate(Page)
def list_readings(request: HttpRequest, query: Query[ReadingQuery]) -> Any:
    point = get_visible(
        MeteringPoint.objects.all(), request, query.point, _("Metering point"), "point"
    )
    readings = IntervalReading.objects.filter(point=point)
    if query.since is not None:
        readings = readings.filter(interval_start__gte=query.since)
    if query.until is not None:
        readings = readings.filter(interval_start__lt=query.until)
    return readings.order_by("interval_start")
