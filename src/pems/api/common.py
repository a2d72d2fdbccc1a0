"""What every router uses: the caller, scoped lookups, pagination."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

from pems.access.roles import Capability
from pems.access.scope import covers_all_sites, require, role_of, scoped
from pems.accounts.locking import lock_account
from pems.accounts.models import Account
from pems.api.errors import not_found

M = TypeVar("M", bound=Model)


def caller(request: HttpRequest) -> Any:
    """The authenticated user (token holder or console login)."""
    return request.auth  # type: ignore[attr-defined]


def visible(queryset: QuerySet[M], request: HttpRequest) -> QuerySet[M]:
    """Only the rows of the caller's sites."""
    return scoped(queryset, caller(request))


def get_visible(
    queryset: QuerySet[M], request: HttpRequest, pk: Any, what: str, field: str | None = None
) -> M:
    """One row of the caller's sites; outside them it does not exist (404, or 422 for a field)."""
    found = visible(queryset, request).filter(pk=pk).first()
    if found is None:
        raise not_found(what, pk, field)
    return found


def lock_visible_account(request: HttpRequest, pk: int, field: str | None = None) -> Account:
    """The account, locked for the caller's transaction, if it is on one of the caller's sites.

    The scope and the lock in one statement (``lock_account``); outside the
    caller's sites the account does not exist (404, or 422 for a field).
    """
    user = caller(request)
    try:
        if role_of(user) is None:
            raise Account.DoesNotExist
        staff_id = None if covers_all_sites(user) else user.staff.pk
        return lock_account(pk, staff_id)
    except Account.DoesNotExist:
        raise not_found(_("Account"), pk, field) from None


def allow(request: HttpRequest, capability: Capability, site_id: int | None) -> None:
    """Refuse (403) unless the caller holds ``capability`` at the site (None: by role alone)."""
    require(caller(request), capability, site_id)


class Page(LimitOffsetPagination):
    """``?limit=&offset=``; answers ``{"items": [...], "count": N}``."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=500, description="Items per page (at most 500).")
        offset: int = Field(0, ge=0, description="Items to skip.")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_limit=500, **kwargs)
