"""Tariffs and their revisions, which tariff an account pays under, settlement
cursors, the prepaid state (alarm level) with its events, meter-side credit
mirrors, and the periods a site keeps power on whatever the credit."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pems.accounts.models import Account
from pems.core.constraints import FieldCheckConstraint
from pems.core.fields import FixedPointField
from pems.core.models import AppendOnlyModel, TimestampedModel, money_field
from pems.domain.calendar import DayType
from pems.domain.policy import EventKind, KeepPowerWindow
from pems.inventory.choices import Utility
from pems.inventory.models import MeteringPoint, Site
from pems.metering.models import energy_field

ENERGY_PLACES = 3
#: Sub-cent money carried between settlement runs; exact to 1e-12 of the currency.
RESIDUE_PLACES = 12


class Tariff(TimestampedModel):
    """A named, versioned price list of a site, kept as a TOML document.

    The document format is docs/tariffs.md; each change is a new
    :class:`TariffRevision`, and a revision may only add versions that start
    in the future — a price change never rewrites past consumption.
    """

    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="tariffs", verbose_name=_("site")
    )
    name = models.CharField(_("name"), max_length=100)
    utility = models.CharField(
        _("utility"), max_length=16, choices=Utility, default=Utility.ELECTRICITY
    )
    document = models.TextField(_("tariff document (TOML)"), editable=False)

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["site", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="tariff_unique_name_in_site")
        ]

    def __str__(self) -> str:
        return self.name


class TariffRevision(AppendOnlyModel):
    """One saved state of a tariff document: who changed it, when and why. Never edited."""

    correction = "save a new revision instead"

    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, related_name="revisions", verbose_name=_("tariff")
    )
    document = models.TextField(_("tariff document (TOML)"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("tariff revision")
        verbose_name_plural = _("tariff revisions")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.tariff} @ {self.created_at:%Y-%m-%d %H:%M}"


class AccountTariff(models.Model):
    """From ``effective_from`` on, an account pays under ``tariff``."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="tariffs", verbose_name=_("account")
    )
    tariff = models.ForeignKey(
        Tariff, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("tariff")
    )
    effective_from = models.DateTimeField(_("effective from"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("account tariff")
        verbose_name_plural = _("account tariffs")
        ordering = ["account", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "effective_from"], name="account_tariff_unique_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} → {self.tariff} from {self.effective_from:%Y-%m-%d}"

    def clean(self) -> None:
        super().clean()
        if (
            self.account_id
            and self.tariff_id
            and (self.tariff.site_id != self.account.tenant.site_id)
        ):
            raise ValidationError({"tariff": _("The tariff belongs to another site.")})


class SettlementCursor(models.Model):
    """How far a server-side metering point has been charged to an account.

    ``last_total`` (and the TOU registers) is the meter reading at
    ``settled_until``: the next settlement charges from there, so each kWh is
    charged once. ``residue`` carries the sub-cent remainder of rounding.
    """

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="cursors", verbose_name=_("account")
    )
    point = models.ForeignKey(
        MeteringPoint,
        on_delete=models.PROTECT,
        related_name="cursors",
        verbose_name=_("metering point"),
    )
    settled_until = models.DateTimeField(_("settled until"))
    last_total = FixedPointField(_("last total"), decimal_places=ENERGY_PLACES)
    last_sharp = FixedPointField(_("last sharp"), decimal_places=ENERGY_PLACES, null=True)
    last_peak = FixedPointField(_("last peak"), decimal_places=ENERGY_PLACES, null=True)
    last_flat = FixedPointField(_("last flat"), decimal_places=ENERGY_PLACES, null=True)
    last_valley = FixedPointField(_("last valley"), decimal_places=ENERGY_PLACES, null=True)
    cycle_start = models.DateField(_("tier cycle start"), null=True)
    cycle_used = FixedPointField(_("used in tier cycle"), decimal_places=6, default=Decimal(0))
    residue = FixedPointField(
        _("rounding residue"), decimal_places=RESIDUE_PLACES, default=Decimal(0)
    )

    class Meta:
        verbose_name = _("settlement cursor")
        verbose_name_plural = _("settlement cursors")
        constraints = [
            models.UniqueConstraint(fields=["account", "point"], name="settlement_cursor_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.point_id} until {self.settled_until:%Y-%m-%d %H:%M}"


class PrepaidState(models.Model):
    """The alarm level an account was last seen at, so each change is announced once."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="prepaid_state", verbose_name=_("account")
    )
    alarm = models.PositiveSmallIntegerField(_("alarm level"), default=0)
    balance = money_field(_("balance when decided"), default=Decimal("0.00"))
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)

    class Meta:
        verbose_name = _("prepaid state")
        verbose_name_plural = _("prepaid states")

    def __str__(self) -> str:
        return f"{self.account_id}: alarm {self.alarm}"


class PrepaidEvent(models.Model):
    """An alarm raised or cleared, or a trip/close requested by the prepaid policy."""

    class Kind(models.TextChoices):
        """The prepaid policy's event kinds (``pems.domain.policy.EventKind``), labelled."""

        ALARM_RAISED = EventKind.ALARM_RAISED.value, _("Alarm raised")
        ALARM_CLEARED = EventKind.ALARM_CLEARED.value, _("Alarm cleared")
        TRIP_REQUESTED = EventKind.TRIP_REQUESTED.value, _("Trip requested")
        CLOSE_REQUESTED = EventKind.CLOSE_REQUESTED.value, _("Close requested")

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="prepaid_events", verbose_name=_("account")
    )
    point = models.ForeignKey(
        MeteringPoint, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=24, choices=Kind)
    alarm = models.PositiveSmallIntegerField(_("alarm level"))
    balance = money_field(_("balance"))
    reason = models.CharField(_("reason"), max_length=200)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("prepaid event")
        verbose_name_plural = _("prepaid events")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind} ({self.account_id})"


class MeterCreditMirror(models.Model):
    """A meter-side point's credit as its meter last reported it, held against the ledger.

    One row per account and point. ``read_at`` is the last reading reconciled:
    the reconcile job (``billing.mirror``) takes each newer reading once.
    ``expected`` is what the ledger said the meter should hold before that
    reading's spending was booked; ``drift`` is what the meter held beyond it,
    never booked (0 while a push is in flight: the meter may already hold it).
    """

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="credit_mirrors", verbose_name=_("account")
    )
    point = models.ForeignKey(
        MeteringPoint,
        on_delete=models.PROTECT,
        related_name="credit_mirrors",
        verbose_name=_("metering point"),
    )
    read_at = models.DateTimeField(_("reading reconciled"))
    # NULL while every reading so far predated a credit change (nothing compared yet).
    reported = money_field(_("credit the meter reported"), null=True, blank=True)
    expected = money_field(_("credit PEMS expected"), null=True, blank=True)
    drift = money_field(_("credit beyond what PEMS sent"), default=Decimal("0.00"))
    reconciled_at = models.DateTimeField(_("reconciled at"), default=timezone.now)
    # The meter's total energy at the last reading compared: a later reading below it is a
    # misread (a meter answering zeros), not spending. NULL: none compared on this meter.
    energy_total = energy_field(_("total energy then"), null=True, blank=True)

    class Meta:
        verbose_name = _("meter credit mirror")
        verbose_name_plural = _("meter credit mirrors")
        constraints = [
            models.UniqueConstraint(fields=["account", "point"], name="credit_mirror_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.point_id} reconciled to {self.read_at:%Y-%m-%d %H:%M}"


class KeepPowerPeriod(models.Model):
    """A time when a site's meters are not tripped for lack of credit (保电时段).

    From ``start`` to ``end``, site-local wall clock (``start == end``: the
    whole day), on the kinds of day ticked. A period crossing midnight is
    judged at each instant by that instant's own date, as TOU periods are: a
    workday night from 22:00 to 08:00 does not cover 01:00 on a Saturday. While
    one is in force the prepaid policy keeps relays closed (and closes one it
    tripped); afterwards the credit decides again.
    """

    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        related_name="keep_power_periods",
        verbose_name=_("site"),
    )
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"), help_text=_("The same as “from”: the whole day."))
    on_workdays = models.BooleanField(_("on workdays"), default=True)
    on_weekends = models.BooleanField(_("on weekends"), default=True)
    on_holidays = models.BooleanField(
        _("on public holidays"), default=True, help_text=_("Chinese statutory holidays.")
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("keep-power period")
        verbose_name_plural = _("keep-power periods")
        ordering = ["site_id", "start"]  # by id: the site's own order (name) would join it
        constraints = [
            FieldCheckConstraint(
                condition=Q(on_workdays=True) | Q(on_weekends=True) | Q(on_holidays=True),
                name="keep_power_period_some_day",
                report_on="on_workdays",
                violation_error_message=_("Tick at least one kind of day."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"

    def window(self) -> KeepPowerWindow:
        """The period as the prepaid policy reads it."""
        days = {
            DayType.WORKDAY: self.on_workdays,
            DayType.WEEKEND: self.on_weekends,
            DayType.HOLIDAY: self.on_holidays,
        }
        return KeepPowerWindow(self.start, self.end, frozenset(d for d, on in days.items() if on))
