"""Exact decimal columns stored as integers.

SQLite keeps a ``DecimalField`` as a REAL and sums it in floating point
(``SUM`` of 88.88 and −88.88 is −1.1e−15 there). Money and energy never touch a
float in PEMS, so they are stored as an integer count of their smallest unit
(minor units, 0.01 kWh …) on every database, and appear in Python as exact
``Decimal`` values. Arithmetic in SQL (``F() + …``) must pass its operand
through :func:`units_value` so that it is in the same integer unit.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class FixedPointField(models.BigIntegerField):  # type: ignore[type-arg]
    """A ``Decimal`` with exactly ``decimal_places`` places, stored as an integer."""

    description = _("Exact decimal number (stored as an integer)")

    def __init__(self, *args: Any, decimal_places: int = 2, **kwargs: Any) -> None:
        self.decimal_places = decimal_places
        self.quantum = Decimal(1).scaleb(-decimal_places)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["decimal_places"] = self.decimal_places
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).scaleb(-self.decimal_places).quantize(self.quantum)

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or (isinstance(value, Decimal) and value.is_nan()):
            return None
        if isinstance(value, float):
            raise ValidationError(_("Exact values only: a float was given."), code="float")
        try:
            number = (
                Decimal(value) if isinstance(value, int | Decimal) else Decimal(str(value).strip())
            )
        except InvalidOperation as exc:
            raise ValidationError(
                _("%(value)s is not a number."), code="invalid", params={"value": value}
            ) from exc
        if not number.is_finite() or number.quantize(self.quantum) != number:
            raise ValidationError(
                _("%(value)s has more than %(places)s decimal places."),
                code="precision",
                params={"value": value, "places": self.decimal_places},
            )
        return number.quantize(self.quantum)

    def get_prep_value(self, value: Any) -> int | None:
        number = self.to_python(value)
        return None if number is None else int(number.scaleb(self.decimal_places))

    def formfield(self, **kwargs: Any) -> Any:
        defaults = {"form_class": forms.DecimalField, "decimal_places": self.decimal_places}
        return models.Field.formfield(self, **{**defaults, **kwargs})


def units_value(field: FixedPointField, value: Decimal) -> models.Value:
    """``value`` as an SQL operand in ``field``'s integer unit, for ``F()`` arithmetic."""
    return models.Value(value, output_field=field)
