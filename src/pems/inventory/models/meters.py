"""Meters on a bus, and the metering points that are billed."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from pems.core.constraints import FieldCheckConstraint, FieldUniqueConstraint
from pems.core.models import TimestampedModel
from pems.inventory.choices import FeeControl, LocationKind, Phases, Protocol, Utility
from pems.inventory.models.catalogue import MeterModel
from pems.inventory.models.gateways import Gateway
from pems.inventory.models.sites import Location
from pems.inventory.validators import (
    MODBUS_ADDRESS_MAX,
    validate_dlt645_address,
    validate_meter_number,
    validate_modbus_address,
)

_INSTALLED = Q(removed_on__isnull=True)


class Meter(TimestampedModel):
    """A physical meter on a gateway's bus.

    ``address`` is the Modbus address (1–247) or the 12-digit DL/T 645 address
    as a number. A multi-circuit box (ADF300) answers on ``address_count``
    consecutive addresses, one per circuit. A replaced meter keeps its row
    with ``removed_on`` set, so its address is free for the new one.
    """

    gateway = models.ForeignKey(
        Gateway, on_delete=models.PROTECT, related_name="meters", verbose_name=_("gateway")
    )
    address = models.BigIntegerField(_("bus address"))
    address_count = models.PositiveSmallIntegerField(
        _("circuit addresses"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Consecutive bus addresses the meter answers on (ADF300: one per circuit)."),
    )
    number = models.CharField(_("meter number"), max_length=16, validators=[validate_meter_number])
    model = models.ForeignKey(
        MeterModel, on_delete=models.PROTECT, related_name="meters", verbose_name=_("model")
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="meters",
        verbose_name=_("installed at"),
    )
    ct_ratio = models.PositiveIntegerField(
        _("CT ratio"), default=1, validators=[MinValueValidator(1)]
    )
    pt_ratio = models.PositiveIntegerField(
        _("PT ratio"), default=1, validators=[MinValueValidator(1)]
    )
    key_version = models.PositiveSmallIntegerField(
        _("key version"), default=1, validators=[MinValueValidator(1), MaxValueValidator(255)]
    )
    installed_on = models.DateField(_("installed on"), null=True, blank=True)
    removed_on = models.DateField(_("removed on"), null=True, blank=True)

    class Meta:
        verbose_name = _("meter")
        verbose_name_plural = _("meters")
        ordering = ["gateway", "address"]
        constraints = [
            FieldUniqueConstraint(
                fields=["gateway", "address"],
                condition=_INSTALLED,
                name="meter_unique_address_on_gateway",
                report_on="address",
                violation_error_message=_(
                    "Another installed meter on this gateway has this address."
                ),
            ),
            FieldUniqueConstraint(
                fields=["number"],
                condition=_INSTALLED,
                name="meter_unique_installed_number",
                report_on="number",
                violation_error_message=_("Another installed meter has this meter number."),
            ),
            FieldCheckConstraint(
                condition=Q(address__gte=0),
                name="meter_address_not_negative",
                report_on="address",
                violation_error_message=_("A bus address cannot be negative."),
            ),
            FieldCheckConstraint(
                condition=Q(removed_on__isnull=True)
                | Q(installed_on__isnull=True)
                | Q(removed_on__gte=F("installed_on")),
                name="meter_removed_after_installed",
                report_on="removed_on",
                violation_error_message=_("A meter cannot be removed before it was installed."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} @ {self.gateway.name}#{self.display_address}"

    @property
    def display_address(self) -> str:
        if self.gateway_id and self.gateway.protocol_family == Protocol.DLT645:
            return f"{self.address:012d}"
        return str(self.address)

    @property
    def addresses(self) -> range:
        """Every bus address this meter answers on."""
        return range(self.address, self.address + self.address_count)

    def clean(self) -> None:
        super().clean()
        if not (self.gateway_id and self.model_id and self.address is not None):
            return
        family = self.gateway.protocol_family
        if self.model.protocol != family:
            raise ValidationError(
                {
                    "model": _("%(model)s speaks %(protocol)s, but the gateway carries %(family)s.")
                    % {
                        "model": self.model.code,
                        "protocol": self.model.get_protocol_display(),
                        "family": Protocol(family).label,
                    }
                }
            )
        if family == Protocol.DLT645:
            validate_dlt645_address_field(self.address)
        else:
            self._clean_modbus_addresses()

    def _clean_modbus_addresses(self) -> None:
        try:
            validate_modbus_address(self.address)
        except ValidationError as exc:
            raise ValidationError({"address": exc.messages}) from exc
        if self.address_count > self.model.max_circuits:
            raise ValidationError(
                {
                    "address_count": _("A %(model)s carries at most %(max)s circuits.")
                    % {"model": self.model.code, "max": self.model.max_circuits}
                }
            )
        last = self.address + self.address_count - 1
        if last > MODBUS_ADDRESS_MAX:
            raise ValidationError(
                {
                    "address_count": _(
                        "Circuits would run to address %(last)s, past the last Modbus address 247."
                    )
                    % {"last": last}
                }
            )
        neighbours = (
            Meter.objects.filter(_INSTALLED, gateway_id=self.gateway_id)
            .exclude(pk=self.pk)
            .exclude(
                address=self.address
            )  # an exact duplicate is the unique constraint's to report
            .filter(address__lte=last)
        )
        for other in neighbours:
            if other.address + other.address_count - 1 >= self.address:
                raise ValidationError(
                    {
                        "address": _(
                            "Addresses %(first)s–%(last)s overlap meter %(other)s on this gateway."
                        )
                        % {"first": self.address, "last": last, "other": other.number}
                    }
                )


def validate_dlt645_address_field(address: int) -> None:
    try:
        validate_dlt645_address(address)
    except ValidationError as exc:
        raise ValidationError({"address": exc.messages}) from exc


class MeteringPoint(TimestampedModel):
    """What is billed: a whole meter, one ADF300 circuit, or a water meter.

    Circuit *n* of a meter answers on bus address ``meter.address + n - 1``.
    """

    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="metering_points", verbose_name=_("meter")
    )
    circuit = models.PositiveSmallIntegerField(
        _("circuit"), default=1, validators=[MinValueValidator(1)]
    )
    phases = models.PositiveSmallIntegerField(_("phases"), choices=Phases, default=Phases.SINGLE)
    utility = models.CharField(
        _("utility"), max_length=16, choices=Utility, default=Utility.ELECTRICITY
    )
    fee_control = models.CharField(
        _("fee control"), max_length=16, choices=FeeControl, default=FeeControl.SERVER_SIDE
    )
    number = models.CharField(
        _("circuit meter number"),
        max_length=16,
        blank=True,
        validators=[validate_meter_number],
        help_text=_(
            "A circuit's own meter number (ADF300 circuits have one each); empty: the meter's."
        ),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    room = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="metering_points",
        verbose_name=_("room served"),
    )

    class Meta:
        verbose_name = _("metering point")
        verbose_name_plural = _("metering points")
        ordering = ["meter", "circuit"]
        constraints = [
            FieldUniqueConstraint(
                fields=["meter", "circuit"],
                name="metering_point_unique_circuit",
                report_on="circuit",
                violation_error_message=_(
                    "This circuit of the meter already has a metering point."
                ),
            ),
        ]

    def __str__(self) -> str:
        label = self.name or (self.room.name if self.room_id else "")
        suffix = f"/{self.circuit}" if self.circuit > 1 or self.meter.address_count > 1 else ""
        return f"{self.meter.number}{suffix} {label}".strip()

    @property
    def bus_address(self) -> int:
        return self.meter.address + self.circuit - 1

    @property
    def meter_number(self) -> str:
        """The number that identifies this point to its meter (and derives its keys)."""
        return self.number or self.meter.number

    def clean(self) -> None:
        super().clean()
        if not self.meter_id:
            return
        model = self.meter.model
        errors: dict[str, str] = {}
        if self.utility != model.utility:
            errors["utility"] = _("A %(model)s meters %(utility)s.") % {
                "model": model.code,
                "utility": model.get_utility_display(),
            }
        if self.fee_control == FeeControl.METER_SIDE and not model.meter_side:
            errors["fee_control"] = _(
                "A %(model)s cannot hold credit: use server-side fee control."
            ) % {"model": model.code}
        if self.circuit > self.meter.address_count:
            errors["circuit"] = _(
                "The meter has %(count)s circuit(s); circuit %(circuit)s does not exist."
            ) % {
                "count": self.meter.address_count,
                "circuit": self.circuit,
            }
        if self.room_id and (
            self.room.kind != LocationKind.ROOM or self.room.site_id != self.meter.gateway.site_id
        ):
            errors["room"] = _("Choose a room of the meter's site.")
        if not errors:
            errors.update(self._layout_errors(model))
        if errors:
            raise ValidationError(errors)

    def _layout_errors(self, model: MeterModel) -> dict[str, str]:
        """The model's circuit layout limits, counting this point with its siblings."""
        siblings = MeteringPoint.objects.filter(meter_id=self.meter_id).exclude(pk=self.pk)
        phases = [*siblings.values_list("phases", flat=True), self.phases]
        per_kind = {
            Phases.SINGLE: (
                model.max_single_phase_circuits,
                _(
                    "A %(model)s takes at most %(max)s single-phase circuits; "
                    "this would make %(n)s."
                ),
            ),
            Phases.THREE: (
                model.max_three_phase_circuits,
                _("A %(model)s takes at most %(max)s three-phase circuits; this would make %(n)s."),
            ),
        }
        limit, message = per_kind[Phases(self.phases)]
        count = phases.count(self.phases)
        if count <= limit and sum(phases) > model.max_phases:
            limit, count = model.max_phases, sum(phases)
            message = _("A %(model)s carries at most %(max)s phases; this would make %(n)s.")
        if count > limit:
            return {"phases": message % {"model": model.code, "max": limit, "n": count}}
        return {}
