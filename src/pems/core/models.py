"""Abstract bases shared by the project's models."""

from typing import Any, ClassVar

from django.db import models
from django.utils.translation import pgettext_lazy

from pems.core.fields import FixedPointField

#: Money is stored exact to two decimal places (integer minor units) in the
#: site's currency; the domain rounds to the currency's minor unit first.
MONEY_PLACES = 2


def money_field(verbose_name: str, **kwargs: object) -> FixedPointField:
    """An exact money column (integer minor units on every database)."""
    return FixedPointField(verbose_name, decimal_places=MONEY_PLACES, **kwargs)


class TimestampedModel(models.Model):
    """Created/updated timestamps (UTC) for every row a person can edit."""

    created_at = models.DateTimeField(
        pgettext_lazy("timestamp", "created"), auto_now_add=True, editable=False
    )
    updated_at = models.DateTimeField(
        pgettext_lazy("timestamp", "updated"), auto_now=True, editable=False
    )

    class Meta:
        abstract = True


class AppendOnlyModel(models.Model):
    """Rows that are evidence: inserted once, never updated or deleted through the ORM.

    ``correction`` tells the caller what to do instead (the ledger adds
    database triggers on top of this for its own tables).
    """

    correction: ClassVar[str] = "add a new row instead"

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError(
                f"{self._meta.verbose_name_plural} are append-only; {self.correction}."
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError(
            f"{self._meta.verbose_name_plural} are append-only; {self.correction}."
        )
