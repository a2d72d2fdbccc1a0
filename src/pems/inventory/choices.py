"""Enumerations shared by the inventory models, forms and API."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class LocationKind(models.TextChoices):
    BUILDING = "building", _("Building")
    SHAFT = "shaft", _("Riser shaft")
    GARAGE = "garage", _("Garage")
    FLOOR = "floor", _("Floor")
    ROOM = "room", _("Room")


#: Which kinds may hold which: a top-level kind has no parent.
TOP_LEVEL_KINDS = frozenset({LocationKind.BUILDING, LocationKind.SHAFT, LocationKind.GARAGE})
ALLOWED_PARENT_KINDS = {
    LocationKind.FLOOR: frozenset(TOP_LEVEL_KINDS),
    LocationKind.ROOM: frozenset({LocationKind.FLOOR, LocationKind.BUILDING, LocationKind.GARAGE}),
}


class GatewayProtocol(models.TextChoices):
    MODBUS_RTU_OVER_TCP = "modbus-rtu-over-tcp", _("Modbus-RTU over TCP (serial server)")
    MODBUS_TCP = "modbus-tcp", _("Modbus-TCP (unit id = meter address)")
    DLT645_OVER_TCP = "dlt645-over-tcp", _("DL/T 645-2007 over TCP")


class Parity(models.TextChoices):
    NONE = "N", _("None")
    EVEN = "E", _("Even")
    ODD = "O", _("Odd")


BAUD_RATES = [(b, str(b)) for b in (1200, 2400, 4800, 9600, 19200, 38400)]


class Protocol(models.TextChoices):
    """The protocol family a meter model speaks; must match its gateway's."""

    MODBUS = "modbus", _("Modbus-RTU")
    DLT645 = "dlt645", _("DL/T 645-2007")


class Utility(models.TextChoices):
    ELECTRICITY = "electricity", _("Electricity")
    WATER = "water", _("Water")


class FeeControl(models.TextChoices):
    METER_SIDE = "meter-side", _("Meter-side (the meter holds the credit)")
    SERVER_SIDE = "server-side", _("Server-side (PEMS holds the balance)")


class Phases(models.IntegerChoices):
    SINGLE = 1, _("Single-phase")
    THREE = 3, _("Three-phase")
