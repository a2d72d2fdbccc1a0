"""Permission and scope checks shared by the console and the API.

Every view and endpoint asks two questions through this module only: may this
person do X (:func:`can` / :func:`require`), and which sites' rows may they see
(:func:`visible_sites` / :func:`scoped`). A denied request raises
:class:`~django.core.exceptions.PermissionDenied` before anything changes.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _

from pems.access.roles import GRANTS, Capability, Role
from pems.inventory.models import Site

M = TypeVar("M", bound=Model)

#: How to reach the site from each scoped model (a Django lookup path).
SITE_PATHS: dict[str, str] = {
    "inventory.site": "pk",
    "inventory.location": "site",
    "inventory.gateway": "site",
    "inventory.meter": "gateway__site",
    "inventory.meteringpoint": "meter__gateway__site",
    "accounts.tenant": "site",
    "accounts.account": "tenant__site",
    "metering.pointstate": "point__meter__gateway__site",
    "metering.intervalreading": "point__meter__gateway__site",
    "metering.meterevent": "point__meter__gateway__site",
    "metering.dailyfreeze": "point__meter__gateway__site",
    "billing.tariff": "site",
    "billing.keeppowerperiod": "site",
    "billing.prepaidstate": "account__tenant__site",
    "billing.prepaidevent": "account__tenant__site",
    "control.command": "point__meter__gateway__site",
    "ledger.journalentry": "site",
}


def role_of(user: Any) -> Role | None:
    """The user's role; superusers act as administrators; None means no access."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    staff = getattr(user, "staff", None)
    return Role(staff.role) if staff is not None else None


def covers_all_sites(user: Any) -> bool:
    """Whether a user with a role sees every site (a superuser, or staff with all sites)."""
    return bool(user.is_superuser or user.staff.all_sites)


def visible_sites(user: Any) -> QuerySet[Site]:
    """The sites whose rows the user may see (none for a login without a role)."""
    if role_of(user) is None:
        return Site.objects.none()
    if covers_all_sites(user):
        return Site.objects.all()
    return Site.objects.filter(staff=user.staff)


def site_path(model: type[Model]) -> str:
    try:
        return SITE_PATHS[model._meta.label_lower]
    except KeyError:
        raise LookupError(f"{model._meta.label} has no site path in pems.access.scope") from None


def scoped(queryset: QuerySet[M], user: Any) -> QuerySet[M]:
    """Only the rows of ``queryset`` that belong to the user's sites."""
    if role_of(user) is None:
        return queryset.none()
    if covers_all_sites(user):
        return queryset
    path = site_path(queryset.model)
    lookup = "pk__in" if path == "pk" else f"{path}__in"
    return queryset.filter(**{lookup: visible_sites(user)})


def can(user: Any, capability: Capability, site: Site | int | None = None) -> bool:
    """May ``user`` use ``capability`` (at ``site``, when one is given)?"""
    role = role_of(user)
    if role is None or capability not in GRANTS[role]:
        return False
    if site is None or covers_all_sites(user):
        return True
    site_id = site.pk if isinstance(site, Site) else site
    return user.staff.sites.filter(pk=site_id).exists()


def require(user: Any, capability: Capability, site: Site | int | None = None) -> None:
    """Raise PermissionDenied unless :func:`can` allows it."""
    if not can(user, capability, site):
        raise PermissionDenied(
            _("%(capability)s is not allowed here") % {"capability": capability.label}
        )
