"""What every router uses: the caller, scoped lookups, pagination."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

from pems.access.roles import Capability
from pems.access.scope import require, scoped
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
