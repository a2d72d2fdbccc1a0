"""Sites the caller may see, with their keep-power periods (added and removed here too)
and their default thresholds (changed here by managers)."""

import uuid
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status
from ninja.pagination import paginate

from pems.access.roles import Capability
from pems.accounts.actions import SITE_DEFAULTS
from pems.api.common import Page, allow, caller, get_visible, visible
from pems.api.errors import not_found, refusals
from pems.api.schemas.common import READ_ERRORS, WRITE_ERRORS, Reason
from pems.api.schemas.inventory import (
    KeepPowerPeriodIn,
    KeepPowerPeriodOut,
    SiteDefaultsIn,
    SiteDefaultsOut,
    SiteOut,
)
from pems.billing.keep_power import PeriodSpec, add_period, remove_period
from pems.billing.models import KeepPowerPeriod
from pems.billing.site_defaults import set_site_thresholds
from pems.inventory.models import Site

router = Router(tags=["sites"])


@router.get("", response=list[SiteOut], summary="List sites")
@paginate(Page)
def list_sites(request: HttpRequest) -> Any:
    return visible(_sites().order_by("name", "pk"), request)


@router.get("/{site_id}", response={200: SiteOut, **READ_ERRORS}, summary="One site")
def get_site(request: HttpRequest, site_id: int) -> Any:
    return get_visible(_sites(), request, site_id, _("Site"))


@router.post(
    "/{site_id}/keep-power-periods",
    response={201: KeepPowerPeriodOut, **WRITE_ERRORS},
    summary="Add a keep-power period (保电时段): no meter of the site tripped for lack of credit",
)
def add_keep_power_period(request: HttpRequest, site_id: int, body: KeepPowerPeriodIn) -> Any:
    site = _site_allowing(request, site_id, Capability.CONTROL)
    spec = PeriodSpec(**body.dict())
    with refusals():
        return Status(201, add_period(site, spec, caller(request)))


@router.delete(
    "/{site_id}/keep-power-periods/{period_id}",
    response={204: None, **WRITE_ERRORS},
    summary="Remove a keep-power period; the credit decides again from the next settle pass",
)
def remove_keep_power_period(
    request: HttpRequest, site_id: int, period_id: int, reason: Reason = ""
) -> Any:
    site = _site_allowing(request, site_id, Capability.CONTROL)
    try:
        remove_period(KeepPowerPeriod(site=site, pk=period_id), caller(request), reason)
    except KeepPowerPeriod.DoesNotExist:
        raise not_found(_("Keep-power period"), period_id) from None
    return Status(204, None)


@router.put(
    "/{site_id}/default-thresholds",
    response={200: SiteDefaultsOut, **WRITE_ERRORS},
    summary="Set a site's default alarm thresholds, overdraft limit and reconnect minimum",
)
def set_default_thresholds(request: HttpRequest, site_id: int, body: SiteDefaultsIn) -> Any:
    site = _site_allowing(request, site_id, Capability.SITE_DEFAULTS)
    # The body names each default as an account names its own value (SITE_DEFAULTS), and so
    # do the refusals: ``default_alarm1_threshold`` is answered as ``alarm1_threshold``.
    values = {name: Decimal(getattr(body, field)) for name, field in SITE_DEFAULTS.items()}
    # A PUT of the values in force changes nothing and queues nothing: one key per request.
    request_id = uuid.uuid4().hex
    with refusals(renames=SITE_DEFAULTS):
        told = set_site_thresholds(
            site,
            values,
            caller(request),
            body.reason,
            lambda point: f"api:site-defaults:{request_id}:{point.pk}",
        )
    return {"site": _sites().get(pk=site.pk), "meters_told": len(told)}


def _site_allowing(request: HttpRequest, site_id: int, capability: Capability) -> Site:
    """The site if the caller sees it (404 otherwise) and holds ``capability`` there (403)."""
    site = get_visible(Site.objects.all(), request, site_id, _("Site"))
    allow(request, capability, site.pk)
    return site


def _sites() -> Any:
    return Site.objects.prefetch_related("keep_power_periods")
