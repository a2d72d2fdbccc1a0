"""Tenants: who buys energy at a site."""

from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import FilterLookup, FilterSchema, Query, Router, Status
from ninja.pagination import paginate

from pems.access.roles import Capability
from pems.accounts import actions as accounts
from pems.accounts.models import Tenant
from pems.api.common import Page, allow, caller, get_visible, visible
from pems.api.errors import refusals
from pems.api.schemas.accounts import TenantIn, TenantOut
from pems.api.schemas.common import READ_ERRORS, WRITE_ERRORS
from pems.inventory.models import Location, Site

router = Router(tags=["tenants"])


class TenantFilters(FilterSchema):
    site: Annotated[int | None, FilterLookup("site_id")] = None
    room: Annotated[str | None, FilterLookup("room__name__iexact")] = None
    q: Annotated[
        str | None, FilterLookup(["name__icontains", "contact_name__icontains", "mobile"])
    ] = None


def _tenants() -> Any:
    return Tenant.objects.select_related("room__parent__parent").order_by("site_id", "name", "pk")


@router.get("", response=list[TenantOut], summary="List tenants")
@paginate(Page)
def list_tenants(request: HttpRequest, filters: Query[TenantFilters]) -> Any:
    return filters.filter(visible(_tenants(), request))


@router.get("/{tenant_id}", response={200: TenantOut, **READ_ERRORS}, summary="One tenant")
def get_tenant(request: HttpRequest, tenant_id: int) -> Any:
    return get_visible(_tenants(), request, tenant_id, _("Tenant"))


@router.post("", response={201: TenantOut, **WRITE_ERRORS}, summary="Add a tenant")
def create_tenant(request: HttpRequest, body: TenantIn) -> Any:
    site = get_visible(Site.objects.all(), request, body.site, _("Site"), "site")
    allow(request, Capability.SELL, site.pk)
    room = None
    if body.room is not None:
        room = get_visible(Location.objects.all(), request, body.room, _("Room"), "room")
    with refusals():
        tenant = accounts.create_tenant(
            site.pk,
            body.name,
            caller(request),
            body.reason,
            mobile=body.mobile,
            contact_name=body.contact_name,
            email=body.email,
            room_id=room.pk if room is not None else None,
        )
    return Status(201, tenant)
