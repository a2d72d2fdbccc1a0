"""Tariffs of the caller's sites, with their versions as the console's tariff pages show them.

Only reads: tariffs are written in the console; an account's tariff changes through
``POST /api/accounts/{id}/tariff`` (``account_settings``)."""

from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import FilterLookup, FilterSchema, Query, Router
from ninja.pagination import paginate

from pems.api.common import Page, get_visible, visible
from pems.api.schemas.common import READ_ERRORS
from pems.api.schemas.tariffs import TariffOut
from pems.billing.models import Tariff
from pems.inventory.choices import Utility

router = Router(tags=["tariffs"])


class TariffFilters(FilterSchema):
    site: Annotated[int | None, FilterLookup("site_id")] = None
    utility: Annotated[Utility | None, FilterLookup("utility")] = None


def _tariffs() -> Any:
    return Tariff.objects.order_by("site_id", "name", "pk")


@router.get("", response=list[TariffOut], summary="List tariffs")
@paginate(Page)
def list_tariffs(request: HttpRequest, filters: Query[TariffFilters]) -> Any:
    return filters.filter(visible(_tariffs(), request))


@router.get("/{tariff_id}", response={200: TariffOut, **READ_ERRORS}, summary="One tariff")
def get_tariff(request: HttpRequest, tariff_id: int) -> Any:
    return get_visible(_tariffs(), request, tariff_id, _("Tariff"))
