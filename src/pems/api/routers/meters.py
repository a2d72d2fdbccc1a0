"""Meters on the gateways' buses (a replaced meter stays listed with ``removed_on``)."""

from typing import Annotated, Any

from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, FilterLookup, FilterSchema, Query, Router
from ninja.pagination import paginate

from pems.api.common import Page, get_visible, visible
from pems.api.schemas.common import READ_ERRORS
from pems.api.schemas.inventory import MeterOut
from pems.inventory.models import Meter

router = Router(tags=["meters"])


class MeterFilters(FilterSchema):
    site: Annotated[int | None, FilterLookup("gateway__site_id")] = None
    gateway: Annotated[int | None, FilterLookup("gateway_id")] = None
    number: Annotated[str | None, FilterLookup("number")] = None
    model: Annotated[str | None, FilterLookup("model__code")] = None
    removed: bool | None = Field(None, description="true: replaced meters only; false: installed.")

    def filter_removed(self, value: bool | None) -> Q:
        return Q() if value is None else Q(removed_on__isnull=not value)


def _meters() -> Any:
    return Meter.objects.select_related("gateway", "model", "location__parent__parent").order_by(
        "gateway__site_id", "number", "pk"
    )


@router.get("", response=list[MeterOut], summary="List meters")
@paginate(Page)
def list_meters(request: HttpRequest, filters: Query[MeterFilters]) -> Any:
    return filters.filter(visible(_meters(), request))


@router.get("/{meter_id}", response={200: MeterOut, **READ_ERRORS}, summary="One meter")
def get_meter(request: HttpRequest, meter_id: int) -> Any:
    return get_visible(_meters(), request, meter_id, _("Meter"))
