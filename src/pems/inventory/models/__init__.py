"""Inventory models: where meters are, how to reach them, and what is billed."""

from pems.inventory.models.catalogue import MeterModel
from pems.inventory.models.gateways import Gateway
from pems.inventory.models.meters import Meter, MeteringPoint
from pems.inventory.models.sites import Location, Site

__all__ = ["Gateway", "Location", "Meter", "MeterModel", "MeteringPoint", "Site"]
