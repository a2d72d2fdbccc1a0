"""Who is calling: a bearer token (integrations) or the console's session (same origin).

Both end as ``request.auth`` = the Django user, whose role and sites then
decide everything through :mod:`pems.access.scope`. A login without a PEMS
role is refused here, before any endpoint runs.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.errors import AuthorizationError
from ninja.security import HttpBearer, SessionAuth

from pems.access.models import ApiToken
from pems.access.scope import role_of


def _with_role(user: Any) -> Any:
    if role_of(user) is None:
        raise AuthorizationError(message=_("This login has no role in PEMS."))
    return user


class BearerToken(HttpBearer):
    """``Authorization: Bearer <token>``; a revoked or unknown token is not accepted."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        holder = ApiToken.holder(token.strip())
        if holder is None:
            return None
        request.user = holder.user
        return _with_role(holder.user)


class ConsoleSession(SessionAuth):
    """The console's login cookie; unsafe methods must carry the CSRF token."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        return _with_role(user) if user is not None else None


AUTH = [BearerToken(), ConsoleSession(csrf=True)]
