"""Field validators with messages an installer can act on."""

from __future__ import annotations

import re
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MODBUS_ADDRESS_MIN, MODBUS_ADDRESS_MAX = 1, 247
#: 99…99 is the DL/T 645 broadcast address, never a meter's own.
DLT645_ADDRESS_MAX = 999_999_999_998

_MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$|^\+[1-9]\d{6,14}$")
_DIGITS = re.compile(r"^\d{1,16}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            _("%(value)s is not a known time zone (e.g. Asia/Shanghai)."),
            code="time_zone",
            params={"value": value},
        ) from exc


def validate_currency(value: str) -> None:
    if not _CURRENCY.match(value):
        raise ValidationError(
            _("%(value)s is not an ISO 4217 currency code (three capital letters, e.g. CNY)."),
            code="currency",
            params={"value": value},
        )


def normalise_mobile(value: str) -> str:
    """Strip spaces and dashes a person types; the stored form is digits with optional +."""
    return re.sub(r"[\s\-()]", "", value or "")


def validate_mobile(value: str) -> None:
    if not _MOBILE.match(normalise_mobile(value)):
        raise ValidationError(
            _(
                "%(value)s is not a mobile number: use 11 digits starting with 1 "
                "(e.g. 13800138000) or international form +<country><number>."
            ),
            code="mobile",
            params={"value": value},
        )


def validate_meter_number(value: str) -> None:
    if not _DIGITS.match(value):
        raise ValidationError(
            _("Meter number %(value)s must be 1–16 digits, as printed on the nameplate."),
            code="meter_number",
            params={"value": value},
        )


def validate_modbus_address(value: int) -> None:
    if not MODBUS_ADDRESS_MIN <= value <= MODBUS_ADDRESS_MAX:
        raise ValidationError(
            _("Modbus address %(value)s is outside 1–247."),
            code="modbus_address",
            params={"value": value},
        )


def validate_dlt645_address(value: int) -> None:
    if not 0 <= value <= DLT645_ADDRESS_MAX:
        raise ValidationError(
            _(
                "DL/T 645 address %(value)s must be 12 digits and not the broadcast "
                "address 999999999999."
            ),
            code="dlt645_address",
            params={"value": value},
        )
