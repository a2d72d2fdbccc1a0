"""Parsing one sheet row into typed records, collecting every cell problem."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from pems.siteplan.catalogue import model_info
from pems.siteplan.columns import BAUD_RATES
from pems.siteplan.errors import Param, SheetIssue, gettext_noop
from pems.siteplan.model import (
    AreaKind,
    Circuit,
    FeeControl,
    Gateway,
    Location,
    MeterPoint,
    ModelCode,
    Parity,
    Prices,
    Protocol,
    SerialSettings,
)

E = TypeVar("E", bound=StrEnum)

MONEY_PLACES = 2
PRICE_PLACES = 4
MAX_MONEY = Decimal("99999999.99")
DLT645_BROADCAST = 999_999_999_999

_PARITY_WORDS = {"none": "N", "even": "E", "odd": "O"}
_NOT_ONE_OF = gettext_noop("'%(value)s' is not one of: %(allowed)s")


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A row whose every cell parsed: its site, gateway (without meters) and meter."""

    number: int
    site: str
    gateway: Gateway
    meter: MeterPoint


class RowReader:
    """Typed access to the cells of one row; problems go to ``issues``, never raise."""

    def __init__(self, number: int, cells: Mapping[str, str], issues: list[SheetIssue]) -> None:
        self.number = number
        self._cells = cells
        self._issues = issues
        self.failed = False

    def problem(self, column: str, template: str, /, **params: Param) -> None:
        """Record a problem in ``column`` of this row (a marked template and its values)."""
        self.failed = True
        self._issues.append(SheetIssue.of(self.number, column, template, **params))

    def text(self, column: str, *, required: bool = True) -> str:
        """The stripped cell text; blank is a problem when required."""
        value = self._cells.get(column, "").strip()
        if required and not value:
            self.problem(column, gettext_noop("is required"))
        return value

    def integer(self, column: str, low: int, high: int, *, default: int | None = None) -> int:
        """A whole number within [low, high]; blank gives ``default`` (or a problem)."""
        raw = self.text(column, required=default is None)
        if not raw:
            return default if default is not None else low
        if not raw.isdigit():
            self.problem(column, gettext_noop("'%(value)s' is not a whole number"), value=raw)
            return low
        value = int(raw)
        if not low <= value <= high:
            self.problem(
                column,
                gettext_noop("%(value)s is outside %(low)s–%(high)s"),
                value=value,
                low=low,
                high=high,
            )
        return value

    def decimal(self, column: str, places: int, *, default: Decimal | None = None) -> Decimal:
        """A non-negative amount with at most ``places`` decimals, quantized to them."""
        raw = self.text(column, required=default is None).replace(",", "")
        exponent = Decimal(1).scaleb(-places)
        if not raw:
            return (default if default is not None else Decimal(0)).quantize(exponent)
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.problem(column, gettext_noop("'%(value)s' is not a number"), value=raw)
            return Decimal(0)
        if not value.is_finite() or value < 0 or value > MAX_MONEY:
            self.problem(
                column,
                gettext_noop("%(value)s must be between 0 and %(max)s"),
                value=raw,
                max=MAX_MONEY,
            )
            return Decimal(0)
        if value != value.quantize(exponent):
            self.problem(
                column,
                gettext_noop("%(value)s has more than %(places)s decimal places"),
                value=raw,
                places=places,
            )
            return Decimal(0)
        return value.quantize(exponent)

    def choice(self, column: str, enum: type[E], *, default: E | None = None) -> E:
        """One of an enum's values (case-insensitive); blank gives ``default``."""
        raw = self.text(column, required=default is None)
        if not raw and default is not None:
            return default
        for member in enum:
            if member.value.lower() == raw.lower():
                return member
        allowed = ", ".join(m.value for m in enum)
        if raw:
            self.problem(column, _NOT_ONE_OF, value=raw, allowed=allowed)
        return next(iter(enum))

    def digits(self, column: str, width: int) -> str:
        """Up to ``width`` decimal digits, zero-padded (Excel drops leading zeros)."""
        raw = self.text(column)
        if raw and (not raw.isdigit() or len(raw) > width):
            self.problem(
                column,
                gettext_noop("'%(value)s' must be 1–%(width)s digits"),
                value=raw,
                width=width,
            )
        return raw.zfill(width)


def parse_row(number: int, cells: Mapping[str, str], issues: list[SheetIssue]) -> ParsedRow | None:
    """Parse one row; None when any cell was wrong (its problems are in ``issues``)."""
    row = RowReader(number, cells, issues)
    gateway = _gateway(row)
    meter = _meter(row, gateway.protocol)
    site = row.text("site")
    return None if row.failed else ParsedRow(number, site, gateway, meter)


def _gateway(row: RowReader) -> Gateway:
    parity_raw = row.text("parity", required=False)
    parity = Parity.NONE
    if parity_raw:
        letter = _PARITY_WORDS.get(parity_raw.lower(), parity_raw.upper())
        if letter in {p.value for p in Parity}:
            parity = Parity(letter)
        else:
            row.problem(
                "parity", _NOT_ONE_OF, value=parity_raw, allowed="N, E, O (none, even, odd)"
            )
    baud = row.integer("baud", 1, 1_000_000, default=9600)
    if baud not in BAUD_RATES:
        rates = ", ".join(map(str, sorted(BAUD_RATES)))
        row.problem(
            "baud",
            gettext_noop("%(value)s is not a standard rate (%(rates)s)"),
            value=baud,
            rates=rates,
        )
    serial = SerialSettings(
        baud=baud,
        data_bits=row.integer("data_bits", 7, 8, default=8),
        parity=parity,
        stop_bits=row.integer("stop_bits", 1, 2, default=1),
    )
    host = row.text("gateway_host")
    if any(ch.isspace() for ch in host):
        row.problem("gateway_host", gettext_noop("'%(value)s' contains spaces"), value=host)
    return Gateway(
        code=row.text("gateway"),
        host=host,
        port=row.integer("gateway_port", 1, 65535),
        protocol=row.choice("gateway_protocol", Protocol),
        serial=serial,
    )


def _meter(row: RowReader, protocol: Protocol) -> MeterPoint:
    model = row.choice("model", ModelCode)
    info = model_info(model)
    if row.text("model", required=False) and (info.protocol == "dlt645") == protocol.is_modbus:
        row.problem(
            "model",
            gettext_noop("%(model)s cannot be on a %(protocol)s gateway"),
            model=model.value,
            protocol=protocol.value,
        )
    address = row.integer("meter_address", 1, 247) if protocol.is_modbus else _dlt645_address(row)
    fee_control = row.choice("fee_control", FeeControl)
    if fee_control is FeeControl.METER_SIDE and not info.meter_side:
        row.problem(
            "fee_control",
            gettext_noop("%(model)s cannot hold credit: use server-side"),
            model=model.value,
        )
    flat = row.decimal("price_flat", PRICE_PLACES)
    prices = Prices(
        sharp=row.decimal("price_sharp", PRICE_PLACES, default=flat),
        peak=row.decimal("price_peak", PRICE_PLACES, default=flat),
        flat=flat,
        valley=row.decimal("price_valley", PRICE_PLACES, default=flat),
    )
    alarm1 = row.decimal("alarm1_threshold", MONEY_PLACES, default=Decimal(50))
    alarm2 = row.decimal("alarm2_threshold", MONEY_PLACES, default=Decimal(20))
    if alarm2 > alarm1:
        row.problem(
            "alarm2_threshold",
            gettext_noop("%(value)s is above alarm1_threshold %(alarm1)s"),
            value=alarm2,
            alarm1=alarm1,
        )
    credit = row.decimal("initial_credit", MONEY_PLACES, default=Decimal(0))
    hoarding = None
    if row.text("hoarding_limit", required=False):
        hoarding = row.decimal("hoarding_limit", MONEY_PLACES)
        if hoarding < credit:
            row.problem(
                "hoarding_limit",
                gettext_noop("%(value)s is below initial_credit %(credit)s"),
                value=hoarding,
                credit=credit,
            )
    meter_number = row.digits("meter_number", 12)
    if not protocol.is_modbus and address and meter_number != f"{address:012d}":
        row.problem(
            "meter_number",
            gettext_noop("must equal meter_address: a DL/T 645 meter is known by its address"),
        )
    return MeterPoint(
        address=address,
        meter_number=meter_number,
        model=model,
        location=Location(
            area_kind=row.choice("area_kind", AreaKind),
            area=row.text("area"),
            floor=row.text("floor"),
            room=row.text("room", required=False),
        ),
        fee_control=fee_control,
        prices=prices,
        initial_credit=credit,
        alarm1=alarm1,
        alarm2=alarm2,
        overdraft_limit=row.decimal("overdraft_limit", MONEY_PLACES, default=Decimal(0)),
        hoarding_limit=hoarding,
        ct_ratio=row.integer("ct_ratio", 1, 9999, default=1),
        pt_ratio=row.integer("pt_ratio", 1, 9999, default=1),
        circuit=_circuit(row, circuits=info.multi_circuit),
    )


def _dlt645_address(row: RowReader) -> int:
    raw = row.text("meter_address")
    if not raw:
        return 0
    if not raw.isdigit() or len(raw) > 12:
        row.problem(
            "meter_address",
            gettext_noop("'%(value)s' must be a DL/T 645 address of 1–12 digits"),
            value=raw,
        )
        return 0
    value = int(raw)
    if value in {0, DLT645_BROADCAST}:
        row.problem(
            "meter_address", gettext_noop("%(value)s is a reserved DL/T 645 address"), value=raw
        )
    return value


def _circuit(row: RowReader, *, circuits: bool) -> Circuit | None:
    columns = ("box", "circuit", "phases")
    if not circuits:
        for column in columns:
            if row.text(column, required=False):
                row.problem(column, gettext_noop("is only for ADF300 circuits; leave it blank"))
        return None
    return Circuit(
        box=row.text("box"),
        index=row.integer("circuit", 1, 36),
        phases=_phases(row),
    )


def _phases(row: RowReader) -> int:
    phases = row.integer("phases", 1, 3)
    if phases == 2:
        row.problem("phases", gettext_noop("must be 1 or 3"))
    return phases
