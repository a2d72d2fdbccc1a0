"""DL/T 645-2007 data identifiers as data, and their value codecs.

The identifiers, their formats and the error-bit tables live in
``maps/_dlt645_identifiers.toml``; this module loads and validates them at
import and converts between plain payload bytes (already −0x33) and values.
"""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pems.devices.errors import BadFrame, EncodeError, MapError, PurchaseReason

ITEMS_FILE = Path(__file__).parent / "maps" / "_dlt645_identifiers.toml"


class ItemKind(enum.Enum):
    """Payload format of a data identifier."""

    BCD = "bcd"
    BLOCK = "block"
    DATE = "date"
    TIME = "time"
    WORD = "word"


@dataclass(frozen=True, slots=True)
class DataItem:
    """One data identifier and how its payload is encoded."""

    di: str
    name: str
    kind: ItemKind
    size: int
    decimals: int = 0
    unit: str = ""
    signed: bool = False
    bits: Mapping[str, int] = field(default_factory=dict)
    doc: str = ""


#: Fields a control command's data may carry, each from the meter's credentials.
CREDENTIAL_FIELDS = ("password", "operator")


@dataclass(frozen=True, slots=True)
class ControlCommand:
    """A command sent with its own control code: the code and its data fields in order."""

    control: int
    data: tuple[str, ...]


def di_bytes(di: str) -> bytes:
    """8-hex-digit identifier → 4 plain bytes, low byte first."""
    if len(di) != 8:
        raise ValueError(f"data identifier must be 8 hex digits, got {di!r}")
    return bytes.fromhex(di)[::-1]


def bcd_decode(raw: bytes, decimals: int, *, signed: bool = False) -> Decimal:
    """Little-endian BCD bytes → Decimal; ``signed`` uses the top bit as sign."""
    if not raw:
        raise BadFrame("empty BCD value")
    ordered = bytearray(raw[::-1])
    negative = signed and bool(ordered[0] & 0x80)
    if signed:
        ordered[0] &= 0x7F
    digits = ordered.hex()
    if not digits.isdecimal():
        raise BadFrame(f"value {raw[::-1].hex().upper()} is not BCD")
    value = Decimal(int(digits)).scaleb(-decimals)
    return -value if negative else value


def bcd_encode(
    value: Decimal | int, size: int, decimals: int = 0, *, signed: bool = False
) -> bytes:
    """Inverse of :func:`bcd_decode`; refuses values that do not fit exactly."""
    scaled = Decimal(value).scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise EncodeError(f"{value} has more than {decimals} decimals")
    magnitude = abs(int(scaled))
    digits = f"{magnitude:0{2 * size}d}"
    if len(digits) > 2 * size or (scaled < 0 and not signed):
        raise EncodeError(f"{value} does not fit {size} BCD bytes")
    ordered = bytearray.fromhex(digits)
    if signed and ordered[0] & 0x80:
        raise EncodeError(f"{value} does not fit {size} signed BCD bytes")
    if scaled < 0:
        ordered[0] |= 0x80
    return bytes(ordered[::-1])


def decode_value(
    item: DataItem, payload: bytes
) -> Decimal | tuple[Decimal, ...] | date | time | int:
    """Decode the payload of ``item`` (the bytes after the DI in a read reply)."""
    if item.kind is ItemKind.BLOCK:
        if not payload or len(payload) % item.size:
            raise BadFrame(f"{item.name}: {len(payload)} bytes is not a multiple of {item.size}")
        return tuple(
            bcd_decode(payload[i : i + item.size], item.decimals, signed=item.signed)
            for i in range(0, len(payload), item.size)
        )
    if len(payload) != item.size:
        raise BadFrame(f"{item.name}: expected {item.size} bytes, got {len(payload)}")
    if item.kind is ItemKind.WORD:
        return int.from_bytes(payload, "little")
    if item.kind is ItemKind.BCD:
        return bcd_decode(payload, item.decimals, signed=item.signed)
    numbers = [int(bcd_decode(payload[i : i + 1], 0)) for i in range(item.size)]
    try:
        if item.kind is ItemKind.DATE:  # wire: WW DD MM YY
            return date(2000 + numbers[3], numbers[2], numbers[1])
        return time(numbers[2], numbers[1], numbers[0])  # wire: ss mm hh
    except ValueError as exc:
        raise BadFrame(f"{item.name}: invalid {item.kind.value} {payload.hex()}: {exc}") from exc


def encode_value(item: DataItem, value: Decimal | int | tuple[Decimal, ...] | date | time) -> bytes:
    """Encode a value of ``item`` as reply payload (used by simulated meters)."""
    if item.kind is ItemKind.BLOCK and isinstance(value, tuple):
        return b"".join(bcd_encode(v, item.size, item.decimals, signed=item.signed) for v in value)
    if item.kind is ItemKind.WORD and isinstance(value, int):
        return value.to_bytes(item.size, "little")
    if item.kind is ItemKind.BCD and isinstance(value, (int, Decimal)):
        return bcd_encode(value, item.size, item.decimals, signed=item.signed)
    if item.kind is ItemKind.DATE and isinstance(value, date):
        parts = (value.isoweekday() % 7, value.day, value.month, value.year % 100)
        return b"".join(bcd_encode(p, 1) for p in parts)
    if item.kind is ItemKind.TIME and isinstance(value, time):
        return b"".join(bcd_encode(p, 1) for p in (value.second, value.minute, value.hour))
    raise EncodeError(f"{item.name}: cannot encode {value!r} as {item.kind.value}")


Loaded = tuple[
    dict[str, DataItem], dict[int, str], dict[int, PurchaseReason], ControlCommand | None
]


def _control_command(raw: Any, where: str, errors: list[str]) -> ControlCommand | None:
    """A command table (``[clear_credit]``), or None when absent; problems go to ``errors``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append(f"{where}: expected a table, got {raw!r}")
        return None
    control, fields = raw.get("control"), raw.get("data")
    if isinstance(control, bool) or not isinstance(control, int) or not 0 < control <= 0x1F:
        errors.append(f"{where}.control: expected a control code 0x01..0x1F, got {control!r}")
        control = None
    if not isinstance(fields, list) or any(f not in CREDENTIAL_FIELDS for f in fields):
        errors.append(f"{where}.data: expected a list of {', '.join(CREDENTIAL_FIELDS)}")
        fields = None
    if control is None or fields is None:
        return None
    return ControlCommand(control, tuple(str(f) for f in fields))


def _load(path: Path) -> Loaded:
    with path.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    errors: list[str] = []
    items: dict[str, DataItem] = {}
    for raw in data.get("items", []):
        try:
            item = DataItem(
                di=str(raw["di"]).upper(),
                name=raw["name"],
                kind=ItemKind(raw["kind"]),
                size=int(raw["bytes"]),
                decimals=int(raw.get("decimals", 0)),
                unit=raw.get("unit", ""),
                signed=bool(raw.get("signed", False)),
                bits=MappingProxyType({b["name"]: int(b["lsb"]) for b in raw.get("bits", [])}),
                doc=raw.get("doc", ""),
            )
            di_bytes(item.di)
        except (KeyError, ValueError, TypeError) as exc:
            errors.append(f"item {raw.get('name', raw)!r}: {exc!r}")
            continue
        if item.name in items:
            errors.append(f"item {item.name}: defined twice")
        items[item.name] = item
    err_bits = {int(k): str(v) for k, v in data.get("err_bits", {}).items()}
    security: dict[int, PurchaseReason] = {}
    for bit, name in data.get("security_error_bits", {}).items():
        try:
            security[int(bit)] = PurchaseReason(name)
        except ValueError:
            errors.append(f"security_error_bits.{bit}: unknown reason {name!r}")
    clear = _control_command(data.get("clear_credit"), "clear_credit", errors)
    if errors:
        raise MapError(f"{path.name}: invalid identifiers:\n  " + "\n  ".join(errors))
    return items, err_bits, security, clear


_ITEMS, _ERR, _SECURITY, _CLEAR = _load(ITEMS_FILE)
ITEMS: Mapping[str, DataItem] = MappingProxyType(_ITEMS)
"""Item name → :class:`DataItem`."""
ITEMS_BY_DI: Mapping[str, DataItem] = MappingProxyType({i.di: i for i in _ITEMS.values()})
"""Identifier (8 hex digits, upper case) → :class:`DataItem`."""
ERR_BITS: Mapping[int, str] = MappingProxyType(_ERR)
"""Bit → name for the ERR byte of an error reply."""
SECURITY_ERROR_BITS: Mapping[int, str] = MappingProxyType(
    {b: r.value for b, r in _SECURITY.items()}
)
"""Bit → :class:`PurchaseReason` value for the 0x03 security error word."""
CLEAR_CREDIT: ControlCommand | None = _CLEAR
"""How a meter's credit is cleared (``[clear_credit]``); None: DL/T 645 meters cannot."""
