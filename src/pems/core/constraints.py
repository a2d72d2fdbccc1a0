"""Database constraints whose violations name the form field they concern.

Django reports a multi-field or conditional constraint as a non-field error;
an installer needs "address: already used on this gateway" next to the box
they typed in. These subclasses re-raise the violation under one field.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models


class _ReportedOnField:
    def __init__(self, *args: Any, report_on: str, **kwargs: Any) -> None:
        self.report_on = report_on
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]

    def validate(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().validate(*args, **kwargs)  # type: ignore[misc]
        except ValidationError as exc:
            message = self.get_violation_error_message()  # type: ignore[attr-defined]
            raise ValidationError(
                {self.report_on: ValidationError(message, code=exc.code or "constraint")}
            ) from exc

    def deconstruct(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        path, args, kwargs = super().deconstruct()  # type: ignore[misc]
        kwargs["report_on"] = self.report_on
        return path, args, kwargs

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and self.report_on == getattr(other, "report_on", None)  # type: ignore[misc]


class FieldUniqueConstraint(_ReportedOnField, models.UniqueConstraint):
    """A `UniqueConstraint` whose violation is reported on `report_on`."""


class FieldCheckConstraint(_ReportedOnField, models.CheckConstraint):
    """A `CheckConstraint` whose violation is reported on `report_on`."""
