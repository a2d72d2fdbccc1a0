"""Gateways (one RS485 bus each)."""

from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import FilterLookup, FilterSchema, Query, Router
from ninja.pagination import paginate

from pems.api.common import Page, get_visible, visible
from pems.api.schemas.common import READ_ERRORS
from pems.api.schemas.inventory import GatewayOut
from pems.inventory.models import Gateway

router = Router(tags=["gateways"])


class GatewayFilters(FilterSchema):
    site: Annotated[int | None, FilterLookup("site_id")] = None
    enabled: Annotated[bool | None, FilterLookup("enabled")] = None
    q: Annotated[str | None, FilterLookup(["name__icontains", "host__icontains"])] = None


def _gateways() -> Any:
    return Gateway.objects.select_related("location__parent__parent").order_by("site_id", "name")


@router.get("", response=list[GatewayOut], summary="List gateways")
@paginate(Page)
def list_gateways(request: HttpRequest, filters: Query[GatewayFilters]) -> Any:
    return filters.filter(visible(_gateways(), request))


@router.get("/{gateway_id}", response={200: GatewayOut, **READ_ERRORS}, summary="One gateway")
def get_gateway(request: HttpRequest, gateway_id: int) -> Any:
    return get_visible(_gateways(), request, gateway_id, _("Gateway"))
