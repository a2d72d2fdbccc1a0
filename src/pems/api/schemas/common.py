"""Shapes shared by every area: decimal text, keys, reasons, the error answer."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

_DECIMAL = re.compile(r"^-?\d{1,15}(\.\d{1,12})?$")


def _decimal_text(value: Any) -> str:
    """Money and energy arrive as strings: a JSON number may already have lost its value."""
    if not isinstance(value, str):
        raise ValueError(_('must be a decimal string such as "100.00", not a JSON number'))
    text = value.strip()
    if not _DECIMAL.match(text):
        raise ValueError(_('%(value)r is not a decimal number such as "100.00"') % {"value": value})
    return text


def _as_text(value: Any) -> Any:
    """Exact values (Decimal) leave as strings; None stays None."""
    return str(value) if isinstance(value, Decimal | int) and not isinstance(value, bool) else value


#: An exact decimal given as a JSON string (``"100.00"``); numbers are refused.
DecimalIn = Annotated[str, BeforeValidator(_decimal_text)]
#: An exact decimal sent as a JSON string, never a float.
DecimalOut = Annotated[str, BeforeValidator(_as_text)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
RequiredReason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]
_KEY = re.compile(r"^[\x21-\x7e]{1,80}$")


def _idempotency_key(value: str) -> str:
    if not _KEY.match(value):
        raise ValueError(_("must be 1–80 printable ASCII characters without spaces"))
    return value


def _currency_code(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


IdempotencyKey = Annotated[
    str, StringConstraints(strip_whitespace=True), AfterValidator(_idempotency_key)
]
#: An ISO 4217 code; case does not matter ("cny" is CNY).
Currency = Annotated[str, BeforeValidator(_currency_code), StringConstraints(pattern=r"^[A-Z]{3}$")]


class FieldError(Schema):
    field: str | None = Field(description="The request field at fault; null for the whole request.")
    message: str


class ErrorOut(Schema):
    """Every error answer: 401, 403, 404, 409 and 422 alike."""

    errors: list[FieldError]


#: Documented error answers of an endpoint that reads.
READ_ERRORS: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
#: Documented error answers of an endpoint that writes.
WRITE_ERRORS: dict[int, type[Schema]] = {**READ_ERRORS, 409: ErrorOut}
