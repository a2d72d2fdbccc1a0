"""Gateways: the TCP endpoints that carry one RS485 bus each."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from pems.core.constraints import FieldUniqueConstraint
from pems.core.models import TimestampedModel
from pems.inventory.choices import BAUD_RATES, GatewayProtocol, Parity, Protocol
from pems.inventory.models.sites import Location, Site


class Gateway(TimestampedModel):
    """A communication gateway port: one RS485 bus reachable at ``host:port``.

    A multi-port device is one Gateway per port. The serial settings do not
    travel over TCP; PEMS uses them to compute bus timing and timeouts.
    """

    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="gateways", verbose_name=_("site")
    )
    location = models.ForeignKey(
        Location,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gateways",
        verbose_name=_("location"),
    )
    name = models.CharField(_("name"), max_length=100)
    host = models.CharField(
        _("host"), max_length=255, help_text=_("IP address or host name of the gateway.")
    )
    port = models.PositiveIntegerField(
        _("port"), validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    protocol = models.CharField(_("protocol"), max_length=24, choices=GatewayProtocol)
    baud = models.PositiveIntegerField(_("baud rate"), choices=BAUD_RATES, default=9600)
    parity = models.CharField(_("parity"), max_length=1, choices=Parity, default=Parity.NONE)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("gateway")
        verbose_name_plural = _("gateways")
        ordering = ["site", "name"]
        constraints = [
            FieldUniqueConstraint(
                fields=["host", "port"],
                name="gateway_unique_endpoint",
                report_on="port",
                violation_error_message=_("Another gateway already uses this host and port."),
            ),
            FieldUniqueConstraint(
                fields=["site", "name"],
                name="gateway_unique_name_in_site",
                report_on="name",
                violation_error_message=_("Another gateway of this site has this name."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.host}:{self.port})"

    @property
    def protocol_family(self) -> str:
        """The meter protocol family spoken behind this gateway."""
        if self.protocol == GatewayProtocol.DLT645_OVER_TCP:
            return Protocol.DLT645
        return Protocol.MODBUS

    def clean(self) -> None:
        super().clean()
        if self.location_id and self.site_id and self.location.site_id != self.site_id:
            raise ValidationError({"location": _("The location belongs to another site.")})
