"""Metering points: what is billed, with the latest reading and the paying account."""

from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, FilterLookup, FilterSchema, Query, Router
from ninja.pagination import paginate

from pems.api import queries
from pems.api.common import Page, get_visible, visible
from pems.api.schemas.common import READ_ERRORS
from pems.api.schemas.inventory import PointOut
from pems.inventory.choices import FeeControl, Utility

router = Router(tags=["metering points"])


class PointFilters(FilterSchema):
    site: Annotated[int | None, FilterLookup("meter__gateway__site_id")] = None
    meter: Annotated[
        str | None,
        FilterLookup(["meter__number", "number"]),
        Field(description="A meter number (a circuit's own number matches too)."),
    ] = None
    room: Annotated[
        str | None, FilterLookup("room__name__iexact"), Field(description="A room's name.")
    ] = None
    location: Annotated[
        int | None,
        FilterLookup(["room_id", "room__parent_id", "room__parent__parent_id"]),
        Field(description="A room, floor, building, shaft or garage id: the points inside it."),
    ] = None
    fee_control: Annotated[FeeControl | None, FilterLookup("fee_control")] = None
    utility: Annotated[Utility | None, FilterLookup("utility")] = None
    online: Annotated[bool | None, FilterLookup("state__online")] = None
    relay_closed: Annotated[bool | None, FilterLookup("state__relay_closed")] = None
    account: Annotated[
        int | None, FilterLookup("open_account_id"), Field(description="The open account's id.")
    ] = None


@router.get("", response=list[PointOut], summary="List metering points with live state")
@paginate(Page)
def list_points(request: HttpRequest, filters: Query[PointFilters]) -> Any:
    return filters.filter(visible(queries.points(), request))


@router.get("/{point_id}", response={200: PointOut, **READ_ERRORS}, summary="One metering point")
def get_point(request: HttpRequest, point_id: int) -> Any:
    return get_visible(queries.points(), request, point_id, _("Metering point"))
