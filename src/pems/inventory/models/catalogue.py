"""The meter model catalogue: what each kind of meter can do, as data."""

from __future__ import annotations

from dataclasses import asdict

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from pems.core.models import TimestampedModel
from pems.devices.catalogue import CATALOGUE
from pems.inventory.choices import Protocol, Utility


class MeterModel(TimestampedModel):
    """One kind of meter (DTSY1352-NK, ADF300 …), copied from ``pems/devices/catalogue.toml``.

    Capabilities are columns, not code branches: validation and drivers ask
    the catalogue what a model supports.
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    manufacturer = models.CharField(_("manufacturer"), max_length=64)
    utility = models.CharField(_("utility"), max_length=16, choices=Utility)
    protocol = models.CharField(_("protocol"), max_length=16, choices=Protocol)
    unit = models.CharField(_("unit"), max_length=8, default="kWh")
    phases = models.PositiveSmallIntegerField(
        _("phases"), help_text=_("0: given per circuit, or not applicable (water).")
    )
    meter_side = models.BooleanField(_("can hold credit (meter-side fee control)"))
    tou_registers = models.BooleanField(_("keeps TOU registers"))
    max_circuits = models.PositiveSmallIntegerField(_("max circuits"), default=1)
    max_single_phase_circuits = models.PositiveSmallIntegerField(_("max single-phase circuits"))
    max_three_phase_circuits = models.PositiveSmallIntegerField(_("max three-phase circuits"))
    max_phases = models.PositiveSmallIntegerField(_("max phases"))

    class Meta:
        verbose_name = _("meter model")
        verbose_name_plural = _("meter models")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


@transaction.atomic
def sync_catalogue() -> int:
    """Create or update a row for every catalogue model; returns how many there are."""
    for info in CATALOGUE.values():
        fields = asdict(info)
        code = fields.pop("code")
        MeterModel.objects.update_or_create(code=code, defaults=fields)
    return len(CATALOGUE)
