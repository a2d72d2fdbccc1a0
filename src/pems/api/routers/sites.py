"""Sites the caller may see, with their keep-power periods."""

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
    return visible(_sites().order_by("name", "pk"), request)


@router.get("/{site_id}", response={200: SiteOut, **READ_ERRORS}, summary="One site")
def get_site(request: HttpRequest, site_id: int) -> Any:
    return get_visible(_sites(), request, site_id, _("Site"))


def _sites() -> Any:
    return Site.objects.prefetch_related("keep_power_periods")
