"""The site plan: what an installer's import sheet describes, as immutable records.

A :class:`SitePlan` is one site with its gateways; each :class:`Gateway` is one
RS485 bus exposed over TCP and carries its :class:`MeterPoint` rows in sheet
order. Everything here is already validated — build plans with
:func:`pems.siteplan.sheet.read_sheet` or the generators in
:mod:`pems.siteplan.builtin`, which check every rule in
:mod:`pems.siteplan.validate`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from pems.devices.records import Prices as Prices  # re-exported: plans carry driver prices


class Protocol(StrEnum):
    """How a gateway exposes its bus over TCP."""

    MODBUS_RTU_OVER_TCP = "modbus-rtu-over-tcp"
    MODBUS_TCP = "modbus-tcp"
    DLT645_OVER_TCP = "dlt645-over-tcp"

    @property
    def is_modbus(self) -> bool:
        """True for both Modbus flavours (addresses 1–247)."""
        return self is not Protocol.DLT645_OVER_TCP


class Parity(StrEnum):
    """Serial parity, written as the usual one-letter code (8N1, 8E1)."""

    NONE = "N"
    EVEN = "E"
    ODD = "O"


class AreaKind(StrEnum):
    """Top level of a location: where the meter physically hangs."""

    BUILDING = "building"
    RISER_SHAFT = "riser-shaft"
    GARAGE = "garage"


class FeeControl(StrEnum):
    """Who holds the credit: the meter itself or the PEMS server."""

    METER_SIDE = "meter-side"
    SERVER_SIDE = "server-side"


class ModelCode(StrEnum):
    """Meter models the sheet accepts (see pems/devices/catalogue.toml for what each one is)."""

    DTSY1352_NK = "DTSY1352-NK"
    DDSY1352_NK = "DDSY1352-NK"
    ADF300 = "ADF300"
    WATER_VALVE = "WATER-VALVE"
    DLT645_GENERIC = "DLT645-GENERIC"


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """The RS485 line behind a gateway, e.g. 9600 8N1."""

    baud: int = 9600
    data_bits: int = 8
    parity: Parity = Parity.NONE
    stop_bits: int = 1

    def __str__(self) -> str:
        return f"{self.baud} {self.data_bits}{self.parity.value}{self.stop_bits}"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a metering point is: area (building, riser shaft, garage) → floor → room."""

    area_kind: AreaKind
    area: str
    floor: str
    room: str = ""


@dataclass(frozen=True, slots=True)
class Circuit:
    """One circuit of an ADF300 multi-circuit box (each answers on its own address)."""

    box: str
    index: int
    phases: int


@dataclass(frozen=True, slots=True)
class MeterPoint:
    """One metering point: a meter, or one circuit of an ADF300 box.

    ``address`` is the Modbus unit (1–247) on Modbus gateways and the
    12-digit DL/T 645 address as an integer on DL/T 645 gateways.
    Money fields are in the site's currency; ``hoarding_limit`` of ``None``
    means the meter enforces no cap on stored credit.
    """

    address: int
    meter_number: str
    model: ModelCode
    location: Location
    fee_control: FeeControl
    prices: Prices
    initial_credit: Decimal = Decimal("0.00")
    alarm1: Decimal = Decimal("50.00")
    alarm2: Decimal = Decimal("20.00")
    overdraft_limit: Decimal = Decimal("0.00")
    hoarding_limit: Decimal | None = None
    ct_ratio: int = 1
    pt_ratio: int = 1
    circuit: Circuit | None = None

    def address_text(self, protocol: Protocol) -> str:
        """The address as an installer writes it (12 digits for DL/T 645)."""
        return str(self.address) if protocol.is_modbus else f"{self.address:012d}"


@dataclass(frozen=True, slots=True)
class Gateway:
    """One gateway = one RS485 bus reachable at ``host:port``."""

    code: str
    host: str
    port: int
    protocol: Protocol
    serial: SerialSettings
    meters: tuple[MeterPoint, ...] = field(default=())

    def with_endpoint(self, host: str, port: int) -> Gateway:
        """The same gateway reachable somewhere else (used by the simulator)."""
        return replace(self, host=host, port=port)


@dataclass(frozen=True, slots=True)
class SitePlan:
    """A whole site: gateways in sheet order, each with its metering points."""

    site: str
    gateways: tuple[Gateway, ...]

    @property
    def meter_count(self) -> int:
        """Number of metering points on the site."""
        return sum(len(g.meters) for g in self.gateways)

    def points(self) -> Iterator[tuple[Gateway, MeterPoint]]:
        """Every (gateway, metering point) pair in sheet order."""
        for gateway in self.gateways:
            for meter in gateway.meters:
                yield gateway, meter

    def gateway(self, code: str) -> Gateway:
        """The gateway called ``code``; KeyError names the known codes if absent."""
        for gateway in self.gateways:
            if gateway.code == code:
                return gateway
        known = ", ".join(g.code for g in self.gateways)
        raise KeyError(f"no gateway {code!r} in site {self.site!r} (gateways: {known})")
