"""What the collector stores: latest state, interval readings, daily freezes, events, statistics.

Energies are Decimal kWh (m³ for water) with three decimals, money Decimal with
two; every datetime is aware (UTC in storage). A value the meter did not report
is NULL, never zero. Rows are written by the collector in batches; people read
them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from pems.core.fields import FixedPointField
from pems.core.models import money_field
from pems.inventory.models import Gateway, Meter, MeteringPoint

ENERGY_PLACES = 3


def energy_field(verbose_name: str, **kwargs: object) -> FixedPointField:
    """Accumulated energy (kWh or m³), exact to 0.001, stored as an integer; never a float."""
    return FixedPointField(verbose_name, decimal_places=ENERGY_PLACES, **kwargs)


def fixed(verbose_name: str, places: int) -> FixedPointField:
    """An exact instantaneous value (volts, amps, kW) with ``places`` decimals, NULL if unknown."""
    return FixedPointField(verbose_name, decimal_places=places, null=True, blank=True)


class EnergyRegisters(models.Model):
    """Total and time-of-use energy registers as read from a meter."""

    energy_total = energy_field(_("total energy"))
    energy_sharp = energy_field(_("sharp energy"), null=True, blank=True)
    energy_peak = energy_field(_("peak energy"), null=True, blank=True)
    energy_flat = energy_field(_("flat energy"), null=True, blank=True)
    energy_valley = energy_field(_("valley energy"), null=True, blank=True)
    remaining_credit = money_field(_("remaining credit"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"))

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        parts = [self.energy_sharp, self.energy_peak, self.energy_flat, self.energy_valley]
        if self.energy_total is not None and any(p is not None and p < 0 for p in parts):
            raise ValidationError({"energy_total": _("Energy registers cannot be negative.")})


class PointState(EnergyRegisters):
    """The latest known state of one metering point (one row per point, upserted).

    ``read_at`` and the values are those of the last *good* reading;
    ``online`` turns false when the meter stops answering, without touching
    the values — an offline meter's readings are never invented.
    """

    point = models.OneToOneField(
        MeteringPoint,
        on_delete=models.CASCADE,
        related_name="state",
        verbose_name=_("metering point"),
    )
    # NULL until the first good reading: a meter dead from the start has a row
    # (offline) but no values.
    energy_total = energy_field(_("total energy"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    purchase_count = models.PositiveIntegerField(_("purchase count"), null=True, blank=True)
    relay_closed = models.BooleanField(_("relay closed"), null=True)
    forced_mode = models.CharField(_("forced mode"), max_length=16, blank=True)
    alarm1 = models.BooleanField(_("alarm 1"), null=True)
    alarm2 = models.BooleanField(_("alarm 2"), null=True)
    arrears = models.BooleanField(_("arrears"), null=True)
    fault = models.BooleanField(_("fault"), null=True)
    voltage_a = fixed(_("voltage L1"), 1)
    voltage_b = fixed(_("voltage L2"), 1)
    voltage_c = fixed(_("voltage L3"), 1)
    current_a = fixed(_("current L1"), 2)
    current_b = fixed(_("current L2"), 2)
    current_c = fixed(_("current L3"), 2)
    active_power = fixed(_("active power (kW)"), 3)
    power_factor = fixed(_("power factor"), 3)
    meter_clock = models.DateTimeField(_("meter clock"), null=True, blank=True)
    online = models.BooleanField(_("online"), default=True)
    last_seen = models.DateTimeField(_("last answered"), null=True, blank=True)
    offline_since = models.DateTimeField(_("offline since"), null=True, blank=True)

    class Meta:
        verbose_name = _("metering point state")
        verbose_name_plural = _("metering point states")
        indexes = [models.Index(fields=["online", "read_at"], name="pointstate_online_read")]

    def __str__(self) -> str:
        return f"{self.point_id} @ {self.read_at:%Y-%m-%d %H:%M:%S}"


class IntervalReading(EnergyRegisters):
    """The first good reading of a point in each interval (15 min by default).

    ``interval_start`` is the interval's start in UTC; one row per point and
    interval, and one per point and ``read_at`` (the database refuses a second).
    """

    point = models.ForeignKey(
        MeteringPoint,
        on_delete=models.PROTECT,
        related_name="interval_readings",
        verbose_name=_("metering point"),
        db_index=False,  # the unique constraint below leads with the point: no second index
    )
    interval_start = models.DateTimeField(_("interval start"))

    class Meta:
        verbose_name = _("interval reading")
        verbose_name_plural = _("interval readings")
        constraints = [
            models.UniqueConstraint(
                fields=["point", "interval_start"], name="interval_reading_unique"
            ),
            # One total a point at one instant: readings are ordered by their time (settlement,
            # the hour marks), which two readings at once would leave undecided. Its index
            # serves settlement, which reads each point's readings after its cursor's time.
            models.UniqueConstraint(
                fields=["point", "read_at"], name="interval_reading_point_time"
            ),
            models.CheckConstraint(
                condition=Q(read_at__gte=models.F("interval_start")),
                name="interval_reading_inside",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.point_id} {self.interval_start:%Y-%m-%d %H:%M}"


class DailyFreeze(EnergyRegisters):
    """The first good reading of a point on each local day of its site (日冻结)."""

    point = models.ForeignKey(
        MeteringPoint,
        on_delete=models.PROTECT,
        related_name="daily_freezes",
        verbose_name=_("metering point"),
        db_index=False,  # the unique constraint below leads with the point: no second index
    )
    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("daily freeze")
        verbose_name_plural = _("daily freezes")
        constraints = [models.UniqueConstraint(fields=["point", "day"], name="daily_freeze_unique")]

    def __str__(self) -> str:
        return f"{self.point_id} {self.day}"


class EventKind(models.TextChoices):
    RELAY_CHANGED = "relay_changed", _("Relay changed")
    ALARMS_CHANGED = "alarms_changed", _("Alarm flags changed")
    PURCHASE_MISMATCH = "purchase_mismatch", _("Purchase count mismatch")
    CREDIT_DRIFT = "credit_drift", _("Meter holds credit PEMS did not send")
    IDENTITY_CHANGED = "identity_changed", _("Meter identity changed")
    CLOCK_DRIFT = "clock_drift", _("Meter clock drift")
    ENERGY_BACKWARDS = "energy_backwards", _("Energy went backwards")
    ENERGY_ROLLOVER = "energy_rollover", _("Energy register rolled over")
    OFFLINE = "offline", _("Went offline")
    ONLINE = "online", _("Came back online")


class MeterEvent(models.Model):
    """Something that changed between two consecutive readings of a point.

    ``before``/``after`` hold the compared values as strings (Decimals stay exact).
    """

    point = models.ForeignKey(
        MeteringPoint,
        on_delete=models.PROTECT,
        related_name="meter_events",
        verbose_name=_("metering point"),
    )
    kind = models.CharField(_("kind"), max_length=24, choices=EventKind)
    at = models.DateTimeField(_("at"))
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    detail = models.CharField(_("detail"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("meter event")
        verbose_name_plural = _("meter events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["point", "at"], name="meterevent_point_at")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.point_id} {self.at:%Y-%m-%d %H:%M:%S}"


class CommCounters(models.Model):
    """Request counters since the row was created; latency in microseconds."""

    requests = models.PositiveBigIntegerField(_("requests"), default=0)
    failures = models.PositiveBigIntegerField(_("failures"), default=0)
    timeouts = models.PositiveBigIntegerField(_("timeouts"), default=0)
    bad_frames = models.PositiveBigIntegerField(_("bad frames"), default=0)
    latency_total_us = models.PositiveBigIntegerField(_("total latency (µs)"), default=0)
    last_latency_us = models.PositiveBigIntegerField(_("last latency (µs)"), default=0)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)
    updated_at = models.DateTimeField(pgettext_lazy("timestamp", "updated"))

    class Meta:
        abstract = True

    @property
    def mean_latency_ms(self) -> int:
        """Mean latency of answered requests, in whole milliseconds."""
        answered = self.requests - self.failures
        return self.latency_total_us // 1000 // answered if answered > 0 else 0


class MeterCommStats(CommCounters):
    """Communication statistics of one meter (all its circuits)."""

    meter = models.OneToOneField(
        Meter, on_delete=models.CASCADE, related_name="comm_stats", verbose_name=_("meter")
    )

    class Meta:
        verbose_name = _("meter communication statistics")
        verbose_name_plural = _("meter communication statistics")

    def __str__(self) -> str:
        return f"meter {self.meter_id}: {self.requests} requests, {self.failures} failed"


class GatewayCommStats(CommCounters):
    """Communication statistics of one gateway (bus), with its last sweep."""

    gateway = models.OneToOneField(
        Gateway, on_delete=models.CASCADE, related_name="comm_stats", verbose_name=_("gateway")
    )
    connect_failures = models.PositiveBigIntegerField(_("connection failures"), default=0)
    last_sweep_ms = models.PositiveIntegerField(_("last sweep (ms)"), default=0)
    sweeps = models.PositiveBigIntegerField(_("sweeps"), default=0)

    class Meta:
        verbose_name = _("gateway communication statistics")
        verbose_name_plural = _("gateway communication statistics")

    def __str__(self) -> str:
        return f"gateway {self.gateway_id}: {self.requests} requests, {self.failures} failed"
