"""One error shape for every refusal: ``{"errors": [{"field": ..., "message": ...}]}``.

Handlers turn request validation, scope, permission and domain refusals into
that shape; :func:`refusals` maps the domain actions' own exceptions to a
status and the request field they concern.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as ModelValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError

from pems.accounts.actions import AccountActionError, AccountClosed
from pems.billing.credit import CreditError
from pems.billing.relays import RelayRefused
from pems.control.actions import IdempotencyConflict as CommandKeyConflict
from pems.domain.errors import CurrencyError, PrecisionError
from pems.ledger.posting import IdempotencyConflict as EntryKeyConflict
from pems.ledger.posting import InsufficientBalance, LedgerError


class ApiError(Exception):
    """A refusal with its HTTP status and the field it concerns (None: the whole request)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = [{"field": field, "message": message}]


def not_found(what: str, ident: object, field: str | None = None) -> ApiError:
    """The same answer whether the object does not exist or lies outside the caller's sites."""
    status = 422 if field else 404
    return ApiError(status, _("%(what)s %(id)s not found.") % {"what": what, "id": ident}, field)


@contextmanager
def refusals(field: str | None = None, renames: Mapping[str, str] | None = None) -> Iterator[None]:
    """Run a domain action; its refusals become API errors about ``field``.

    ``renames`` maps a model field named by a validation error to the request
    field the client sent (``metering_point`` → ``metering_points``).
    """
    names = renames or {}
    try:
        yield
    except ModelValidationError as exc:
        raise ValidationFailed(exc, names) from exc
    except (EntryKeyConflict, CommandKeyConflict) as exc:
        raise ApiError(
            409,
            _("This idempotency key was already used for a different request."),
            names.get("idempotency_key", "idempotency_key"),
        ) from exc
    except InsufficientBalance as exc:
        why = _("Not enough credit: %(why)s") % {"why": exc}
        raise ApiError(409, why, names.get("amount", "amount")) from exc
    except AccountClosed as exc:
        raise ApiError(409, str(exc), "account") from exc
    except (AccountActionError, LedgerError, CreditError, RelayRefused) as exc:
        raise ApiError(409, str(exc), field) from exc
    except (CurrencyError, PrecisionError) as exc:
        raise ApiError(422, str(exc), field) from exc


class ValidationFailed(Exception):
    """A model's ``full_clean`` refused the input: one error per field."""

    def __init__(self, error: ModelValidationError, renames: Mapping[str, str]) -> None:
        super().__init__(str(error))
        self.errors = _model_errors(error, renames)


def _model_errors(error: ModelValidationError, renames: Mapping[str, str]) -> list[dict[str, Any]]:
    if not hasattr(error, "error_dict"):
        return [{"field": None, "message": message} for message in error.messages]
    errors = []
    for name, messages in error.message_dict.items():
        field = None if name == "__all__" else renames.get(name, name)
        errors.extend({"field": field, "message": message} for message in messages)
    return errors


def _request_errors(errors: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors, named by the field the client sent (``amount``, ``since``)."""
    shaped = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        # loc is (source, parameter, field…): "body"/"query"/"path", then our
        # parameter name ("body", "filters" …), then the client's field path.
        path = loc[2:] if len(loc) > 2 else loc[1:]
        message = str(error.get("msg", ""))
        if error.get("type") == "value_error":
            message = message.removeprefix("Value error, ")
        shaped.append({"field": ".".join(path) or None, "message": message})
    return shaped


def install(api: NinjaAPI) -> None:
    """Answer every refusal with the one error shape."""

    def respond(request: HttpRequest, status: int, errors: list[dict[str, Any]]) -> HttpResponse:
        return api.create_response(request, {"errors": errors}, status=status)

    @api.exception_handler(ApiError)
    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return respond(request, exc.status, exc.errors)

    @api.exception_handler(ValidationFailed)
    def model_invalid(request: HttpRequest, exc: ValidationFailed) -> HttpResponse:
        return respond(request, 422, exc.errors)

    @api.exception_handler(RequestValidationError)
    def request_invalid(request: HttpRequest, exc: RequestValidationError) -> HttpResponse:
        return respond(request, 422, _request_errors(exc.errors))

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        message = _("Authentication required: send “Authorization: Bearer <token>”.")
        return respond(request, 401, [{"field": None, "message": message}])

    @api.exception_handler(PermissionDenied)
    def denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        message = str(exc) or _("You may not do this.")
        return respond(request, 403, [{"field": None, "message": message}])

    @api.exception_handler(Http404)
    def missing(request: HttpRequest, exc: Http404) -> HttpResponse:
        return respond(request, 404, [{"field": None, "message": _("Not found.")}])

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return respond(request, exc.status_code, [{"field": None, "message": str(exc)}])
