"""The meter model catalogue: what each kind of meter can do, as data."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from pems.core.models import TimestampedModel
from pems.inventory.choices import Phases, Protocol, Utility

CATALOGUE_FILE = "catalogue.toml"


class MeterModel(TimestampedModel):
    """One kind of meter (DTSY1352-NK, ADF300 …), loaded from ``catalogue.toml``.

    Capabilities are columns, not code branches: validation and drivers ask
    the catalogue what a model supports.
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    manufacturer = models.CharField(_("manufacturer"), max_length=64)
    utility = models.CharField(_("utility"), max_length=16, choices=Utility)
    protocol = models.CharField(_("protocol"), max_length=16, choices=Protocol)
    phases = models.PositiveSmallIntegerField(_("phases"), choices=Phases)
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

    @property
    def is_multi_circuit(self) -> bool:
        return self.max_circuits > 1


def load_catalogue() -> list[dict[str, Any]]:
    """The catalogue entries shipped with PEMS."""
    text = resources.files("pems.inventory").joinpath(CATALOGUE_FILE).read_text("utf-8")
    entries: list[dict[str, Any]] = tomllib.loads(text)["model"]
    return entries


@transaction.atomic
def sync_catalogue() -> int:
    """Create or update every catalogue model; returns how many entries were loaded."""
    entries = load_catalogue()
    for entry in entries:
        fields = {key: value for key, value in entry.items() if key != "code"}
        MeterModel.objects.update_or_create(code=entry["code"], defaults=fields)
    return len(entries)
