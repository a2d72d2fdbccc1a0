"""Abstract bases shared by the project's models."""

from django.db import models
from django.utils.translation import gettext_lazy as _

#: Money is stored with two decimal places in the site's currency; the domain
#: layer rounds to the currency's minor unit before anything is stored.
MONEY_DIGITS, MONEY_PLACES = 14, 2


def money_field(verbose_name: str, **kwargs: object) -> models.DecimalField:  # type: ignore[type-arg]
    """A DecimalField sized for money; never a FloatField."""
    return models.DecimalField(
        verbose_name, max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, **kwargs
    )


class TimestampedModel(models.Model):
    """Created/updated timestamps (UTC) for every row a person can edit."""

    created_at = models.DateTimeField(_("created"), auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, editable=False)

    class Meta:
        abstract = True
