"""Sites the caller may see."""

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router
from ninja.pagination import paginate

from pems.api.common import Page, get_visible, visible
from pems.api.schemas.common import READ_ERRORS
from pems.api.schemas.inventory import SiteOut
from pems.inventory.models import Site

router = Router(tags=["sites"])


@router.get("", response=list[SiteOut], summary="List sites")
@paginate(Page)
def list_sites(request: HttpRequest) -> Any:
    return visible(Site.objects.order_by("name", "pk"), request)


@router.get("/{site_id}", response={200: SiteOut, **READ_ERRORS}, summary="One site")
def get_site(request: HttpRequest, site_id: int) -> Any:
    return get_visible(Site.objects.all(), request, site_id, _("Site"))
