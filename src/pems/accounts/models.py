"""Tenants and their prepaid accounts.

Balances, tariffs and the ledger arrive with the prepaid core; an account
here holds only who pays, for which metering points, and the thresholds that
drive warnings and automatic control.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pems.core.constraints import FieldCheckConstraint, FieldUniqueConstraint
from pems.core.models import TimestampedModel, money_field
from pems.inventory.choices import LocationKind
from pems.inventory.models import Location, MeteringPoint, Site
from pems.inventory.validators import normalise_mobile, validate_mobile

_NON_NEGATIVE = [MinValueValidator(Decimal("0"))]


class Tenant(TimestampedModel):
    """A shop, office or resident who buys energy; SMS warnings go to ``mobile``."""

    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="tenants", verbose_name=_("site")
    )
    name = models.CharField(_("name"), max_length=100)
    contact_name = models.CharField(_("contact person"), max_length=100, blank=True)
    mobile = models.CharField(_("mobile phone"), max_length=20, validators=[validate_mobile])
    email = models.EmailField(_("email"), blank=True)
    room = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tenants",
        verbose_name=_("room"),
        limit_choices_to={"kind": LocationKind.ROOM},
    )

    class Meta:
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")
        ordering = ["site", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        self.mobile = normalise_mobile(self.mobile)
        if self.room_id and (
            self.room.kind != LocationKind.ROOM or self.room.site_id != self.site_id
        ):
            raise ValidationError({"room": _("Choose a room of the tenant's site.")})


class Account(TimestampedModel):
    """A tenant's prepaid account over one or more metering points.

    Thresholds left empty fall back to the site's defaults. An account is
    closed only through the close action, which releases its metering points.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("tenant")
    )
    status = models.CharField(_("status"), max_length=8, choices=Status, default=Status.OPEN)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    metering_points = models.ManyToManyField(
        MeteringPoint,
        through="AccountMeteringPoint",
        related_name="accounts",
        verbose_name=_("metering points"),
    )
    alarm1_threshold = money_field(
        _("alarm 1 threshold"), null=True, blank=True, validators=_NON_NEGATIVE
    )
    alarm2_threshold = money_field(
        _("alarm 2 threshold"), null=True, blank=True, validators=_NON_NEGATIVE
    )
    overdraft_limit = money_field(
        _("overdraft limit"), null=True, blank=True, validators=_NON_NEGATIVE
    )
    reconnect_minimum = money_field(
        _("reconnect minimum"),
        null=True,
        blank=True,
        validators=_NON_NEGATIVE,
        help_text=_("After a trip, power returns only when credit is above this."),
    )
    keep_power = models.BooleanField(
        _("keep power"), default=False, help_text=_("Never trip automatically (保电).")
    )

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["-opened_at"]
        constraints = [
            FieldCheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | Q(status="closed", closed_at__isnull=False),
                name="account_closed_at_matches_status",
                report_on="closed_at",
                violation_error_message=_(
                    "A closed account has a closing time; an open one has none."
                ),
            ),
            FieldCheckConstraint(
                condition=Q(alarm1_threshold__isnull=True)
                | Q(alarm2_threshold__isnull=True)
                | Q(alarm1_threshold__gt=F("alarm2_threshold")),
                name="account_alarm1_above_alarm2",
                report_on="alarm1_threshold",
                violation_error_message=_(
                    "Alarm 1 must be above alarm 2: it is the first warning."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.tenant}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    def effective_thresholds(self) -> dict[str, Decimal]:
        """The thresholds in force: the account's own, else the site's defaults."""
        site = self.tenant.site
        return {
            "alarm1": _first(self.alarm1_threshold, site.default_alarm1_threshold),
            "alarm2": _first(self.alarm2_threshold, site.default_alarm2_threshold),
            "overdraft": _first(self.overdraft_limit, site.default_overdraft_limit),
            "reconnect": _first(self.reconnect_minimum, site.default_reconnect_minimum),
        }

    def clean(self) -> None:
        super().clean()
        if not self.tenant_id:
            return
        thresholds = self.effective_thresholds()
        if thresholds["alarm1"] <= thresholds["alarm2"]:
            field = "alarm1_threshold" if self.alarm1_threshold is not None else "alarm2_threshold"
            raise ValidationError(
                {
                    field: _("Alarm 1 (%(a1)s) must be above alarm 2 (%(a2)s).")
                    % {"a1": thresholds["alarm1"], "a2": thresholds["alarm2"]}
                }
            )


def _first(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


class AccountMeteringPoint(models.Model):
    """Which metering points an account pays for, and since when.

    A link is *active* until ``released_at`` is set (on close or transfer); a
    metering point has at most one active link, so at most one open account.
    """

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="links", verbose_name=_("account")
    )
    metering_point = models.ForeignKey(
        MeteringPoint,
        on_delete=models.PROTECT,
        related_name="account_links",
        verbose_name=_("metering point"),
    )
    attached_at = models.DateTimeField(_("attached at"), default=timezone.now)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("account metering point")
        verbose_name_plural = _("account metering points")
        constraints = [
            FieldUniqueConstraint(
                fields=["metering_point"],
                condition=Q(released_at__isnull=True),
                name="metering_point_in_one_open_account",
                report_on="metering_point",
                violation_error_message=_(
                    "This metering point already belongs to an open account."
                ),
            ),
            FieldCheckConstraint(
                condition=Q(released_at__isnull=True) | Q(released_at__gte=F("attached_at")),
                name="account_link_released_after_attached",
                report_on="released_at",
                violation_error_message=_("A link cannot be released before it was attached."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} ← {self.metering_point}"

    def clean(self) -> None:
        super().clean()
        if self.account_id and self.metering_point_id:
            if self.metering_point.meter.gateway.site_id != self.account.tenant.site_id:
                raise ValidationError(
                    {"metering_point": _("The metering point belongs to another site.")}
                )
            if self.released_at is None and not self.account.is_open:
                raise ValidationError(
                    {"account": _("A closed account cannot take metering points.")}
                )
