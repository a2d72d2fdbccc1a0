"""Sites and the location tree under each (building / shaft / garage → floor → room)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from pems.core.constraints import FieldCheckConstraint, FieldUniqueConstraint
from pems.core.models import TimestampedModel, money_field
from pems.inventory.choices import ALLOWED_PARENT_KINDS, TOP_LEVEL_KINDS, LocationKind
from pems.inventory.validators import validate_currency, validate_time_zone

_NON_NEGATIVE = [MinValueValidator(Decimal("0"))]


class Site(TimestampedModel):
    """A property PEMS sells energy in: a plaza, a campus, a dormitory.

    The time zone decides billing days and tariff periods; the currency and
    locale are the site's own, never assumed. The default thresholds apply to
    every account that does not set its own.
    """

    class Locale(models.TextChoices):
        ZH_HANS = "zh-hans", _("Simplified Chinese")
        EN = "en", _("English")

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )
    currency = models.CharField(
        _("currency"), max_length=3, default="CNY", validators=[validate_currency]
    )
    locale = models.CharField(_("locale"), max_length=8, choices=Locale, default=Locale.ZH_HANS)
    default_alarm1_threshold = money_field(
        _("default alarm 1 threshold"), default=Decimal("50.00"), validators=_NON_NEGATIVE
    )
    default_alarm2_threshold = money_field(
        _("default alarm 2 threshold"), default=Decimal("20.00"), validators=_NON_NEGATIVE
    )
    default_overdraft_limit = money_field(
        _("default overdraft limit"), default=Decimal("0.00"), validators=_NON_NEGATIVE
    )
    default_reconnect_minimum = money_field(
        _("default reconnect minimum"), default=Decimal("0.00"), validators=_NON_NEGATIVE
    )

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["name"]
        constraints = [
            FieldCheckConstraint(
                condition=Q(default_alarm1_threshold__gt=models.F("default_alarm2_threshold")),
                name="site_alarm1_above_alarm2",
                report_on="default_alarm1_threshold",
                violation_error_message=_(
                    "Alarm 1 must be above alarm 2: it is the first warning."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Location(TimestampedModel):
    """A place in a site's tree: building, riser shaft or garage, then floor, then room."""

    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="locations", verbose_name=_("site")
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=LocationKind)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["site", "kind", "name"]
        constraints = [
            FieldUniqueConstraint(
                fields=["site", "parent", "name"],
                name="location_unique_name_in_parent",
                report_on="name",
                violation_error_message=_("This name is already used here."),
            ),
            FieldUniqueConstraint(
                fields=["site", "name"],
                condition=Q(parent__isnull=True),
                name="location_unique_top_level_name",
                report_on="name",
                violation_error_message=_("This name is already used at the top of the site."),
            ),
        ]

    def __str__(self) -> str:
        return " / ".join(loc.name for loc in self.ancestry())

    def ancestry(self) -> list[Location]:
        """This location and its parents, outermost first."""
        chain: list[Location] = []
        node: Location | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain[::-1]

    def clean(self) -> None:
        super().clean()
        if self.parent_id is None:
            if self.kind and self.kind not in TOP_LEVEL_KINDS:
                raise ValidationError(
                    {"parent": _("A floor or room must be inside a building, shaft or garage.")}
                )
            return
        parent = self.parent
        assert parent is not None  # noqa: S101 — parent_id is set
        if self.site_id and parent.site_id != self.site_id:
            raise ValidationError({"parent": _("The parent belongs to another site.")})
        allowed = ALLOWED_PARENT_KINDS.get(LocationKind(self.kind)) if self.kind else None
        if allowed is None:
            raise ValidationError(
                {"parent": _("A building, shaft or garage sits at the top of the site.")}
            )
        if parent.kind not in allowed:
            raise ValidationError(
                {
                    "parent": _("A %(kind)s cannot be inside a %(parent)s.")
                    % {"kind": self.get_kind_display(), "parent": parent.get_kind_display()}
                }
            )
