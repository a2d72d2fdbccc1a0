"""DL/T 645-2007 frame codec (PEMS's own) and request builders.

Frame: ``FE×0..4 | 68 | A0..A5 | 68 | C | L | DATA | CS | 16``.  Addresses
are 12-digit strings (``"123456781012"``; ``A`` for wildcard digits) sent
least significant byte first; every DATA byte travels +0x33; CS is the byte
sum from the first 0x68 to the byte before CS.  :class:`Frame` always holds
the *plain* data (the 0x33 offset is applied only on the wire).

Decoders raise only :class:`~pems.devices.errors.BadFrame`; error replies are
turned into :class:`~pems.devices.errors.ExceptionResponse` by
:func:`raise_for_error`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from pems.devices.dlt645_items import (
    CLEAR_CREDIT,
    ERR_BITS,
    SECURITY_ERROR_BITS,
    bcd_decode,
    bcd_encode,
    di_bytes,
)
from pems.devices.errors import BadFrame, ExceptionResponse
from pems.domain.messages import Message, gettext_noop

PREAMBLE = b"\xfe\xfe\xfe\xfe"
BROADCAST_ADDRESS = "999999999999"
WILDCARD_ADDRESS = "AAAAAAAAAAAA"
MAX_DATA = 200
RECHARGE_DI = "070102FF"


class Control(enum.IntEnum):
    """Function part (bits 0–4) of the control code."""

    SECURITY = 0x03
    BROADCAST_TIME = 0x08
    READ = 0x11
    READ_FOLLOW = 0x12
    READ_ADDRESS = 0x13
    WRITE = 0x14
    WRITE_ADDRESS = 0x15
    FREEZE = 0x16
    CHANGE_BAUD = 0x17
    CHANGE_PASSWORD = 0x18
    CLEAR_DEMAND = 0x19
    CLEAR_METER = 0x1A
    CLEAR_EVENTS = 0x1B
    RELAY = 0x1C


class RelayAction(enum.IntEnum):
    """N1 byte of a 0x1C relay-control command."""

    TRIP = 0x1A
    ALLOW_CLOSE = 0x1B
    DIRECT_CLOSE = 0x1C
    ALARM_ON = 0x2A
    ALARM_OFF = 0x2B
    KEEP_POWER_ON = 0x3A
    KEEP_POWER_OFF = 0x3B


REPLY_BIT = 0x80
ERROR_BIT = 0x40


@dataclass(frozen=True, slots=True)
class Frame:
    """One DL/T 645 frame with plain (un-offset) data."""

    address: str
    control: int
    data: bytes = b""

    @property
    def function(self) -> int:
        """Control code without the reply/error/follow bits."""
        return self.control & 0x1F

    @property
    def is_reply(self) -> bool:
        """True for frames sent by a meter."""
        return bool(self.control & REPLY_BIT)

    @property
    def is_error(self) -> bool:
        """True for an error reply (code | 0xC0)."""
        return self.is_reply and bool(self.control & ERROR_BIT)


def address_bytes(address: str) -> bytes:
    """12-digit address string → 6 wire bytes, least significant byte first."""
    if len(address) != 12 or any(c not in "0123456789Aa" for c in address):
        raise ValueError(f"DL/T 645 address must be 12 digits (or A wildcards), got {address!r}")
    return bytes.fromhex(address)[::-1]


def _address_text(raw: bytes) -> str:
    text = raw[::-1].hex().upper()
    if any(c not in "0123456789A" for c in text):
        raise BadFrame(f"DL/T 645 address {text} is not BCD")
    return text


def encode_frame(frame: Frame, *, preamble: bytes = PREAMBLE) -> bytes:
    """Serialise a frame (data gets +0x33, checksum appended)."""
    if len(frame.data) > MAX_DATA:
        raise ValueError(f"DL/T 645 data of {len(frame.data)} bytes exceeds {MAX_DATA}")
    if not 0 <= frame.control <= 0xFF:
        raise ValueError(f"control code {frame.control} is not a byte")
    body = (
        b"\x68"
        + address_bytes(frame.address)
        + b"\x68"
        + bytes((frame.control, len(frame.data)))
        + bytes((b + 0x33) & 0xFF for b in frame.data)
    )
    return preamble + body + bytes((sum(body) & 0xFF, 0x16))


def split_frame(buffer: bytes) -> tuple[Frame | None, int]:
    """Find the first complete frame in a byte stream.

    Returns ``(frame, consumed)``; ``(None, n)`` means "need more bytes" after
    discarding ``n`` bytes of preamble.  A complete but corrupt frame raises
    :class:`BadFrame`.
    """
    start = 0
    while start < len(buffer) and buffer[start] == 0xFE:
        start += 1
    if start == len(buffer):
        return None, start
    if buffer[start] != 0x68:
        raise BadFrame(f"DL/T 645 frame starts with 0x{buffer[start]:02X}, expected 0x68")
    if len(buffer) < start + 10:
        return None, start
    length = buffer[start + 9]
    end = start + 12 + length
    if len(buffer) < end:
        return None, start
    return _parse(buffer[start:end]), end


def decode_frame(raw: bytes) -> Frame:
    """Decode exactly one frame (0–4 leading FE bytes allowed)."""
    frame, used = split_frame(raw)
    if frame is None:
        raise BadFrame(f"DL/T 645 frame truncated ({len(raw)} bytes)")
    if used != len(raw):
        raise BadFrame(f"{len(raw) - used} trailing bytes after DL/T 645 frame")
    return frame


def _parse(body: bytes) -> Frame:
    """Parse ``68 … 16`` whose length already matches its L byte."""
    if body[7] != 0x68:
        raise BadFrame(f"second start byte is 0x{body[7]:02X}, expected 0x68")
    if body[-1] != 0x16:
        raise BadFrame(f"end byte is 0x{body[-1]:02X}, expected 0x16")
    if sum(body[:-2]) & 0xFF != body[-2]:
        raise BadFrame(
            f"DL/T 645 checksum 0x{body[-2]:02X} != computed 0x{sum(body[:-2]) & 0xFF:02X}"
        )
    data = bytes((b - 0x33) & 0xFF for b in body[10:-2])
    return Frame(_address_text(body[1:7]), body[8], data)


_ERROR_REPLY = gettext_noop("DL/T 645 error reply to %(function)s: %(reasons)s")

#: How the ERR bits named in ``maps/_dlt645_identifiers.toml`` read to a person (the security
#: word's bits are purchase refusals: ``errors.PURCHASE_REASONS``).
ERR_WORDS = (
    gettext_noop("other"),
    gettext_noop("no_data"),
    gettext_noop("unauthorised"),
    gettext_noop("baud_change_refused"),
    gettext_noop("too_many_seasons"),
    gettext_noop("too_many_periods"),
    gettext_noop("too_many_rates"),
)


def raise_for_error(frame: Frame, *, endpoint: str | None = None) -> None:
    """Turn an error reply into :class:`ExceptionResponse` naming the set bits."""
    if not frame.is_error:
        return
    if frame.function == Control.SECURITY:
        code = int.from_bytes(frame.data[:2], "little")
        table = SECURITY_ERROR_BITS
    else:
        code = frame.data[0] if frame.data else 0
        table = ERR_BITS
    reasons = tuple(name for bit, name in sorted(table.items()) if code >> bit & 1)
    named = {f"r{n}": Message(name) for n, name in enumerate(reasons)}
    raise ExceptionResponse(
        Message.of(
            _ERROR_REPLY,
            function=f"0x{frame.function:02X}",
            # A name the identifiers file adds reads as it is (no translation known for it).
            reasons=Message.of(", ".join(f"%({k})s" for k in named), **named)
            if named
            else Message(gettext_noop("unspecified")),
        ),
        code=code,
        reasons=reasons,
        endpoint=endpoint,
        address=frame.address,
    )


def read_request(address: str, di: str) -> Frame:
    """0x11 read of one data identifier."""
    return Frame(address, Control.READ, di_bytes(di))


def reply_payload(frame: Frame, address: str, di: str) -> bytes:
    """Check a read reply (address, code, DI) and return the bytes after the DI."""
    raise_for_error(frame)
    if frame.address != address:
        raise BadFrame(f"reply from meter {frame.address}, expected {address}")
    if frame.control != Control.READ | REPLY_BIT:
        raise BadFrame(f"reply control 0x{frame.control:02X} does not answer a read")
    if frame.data[:4] != di_bytes(di):
        raise BadFrame(f"reply carries DI {frame.data[:4][::-1].hex().upper()}, expected {di}")
    return frame.data[4:]


def _timestamp(when: datetime) -> bytes:
    """``ssmmhhDDMMYY`` in BCD, seconds first (wire order)."""
    fields = (when.second, when.minute, when.hour, when.day, when.month, when.year % 100)
    return b"".join(bcd_encode(v, 1) for v in fields)


def relay_request(
    address: str,
    action: RelayAction,
    *,
    password: bytes,
    operator: bytes,
    valid_until: datetime,
) -> Frame:
    """0x1C relay control: PA+P0P1P2 (4 bytes), operator (4), N1, N2=0, deadline (6).

    ``valid_until`` must already be in the meter's local time zone.
    """
    if len(password) != 4 or len(operator) != 4:
        raise ValueError("password (level + 3 bytes) and operator code must be 4 bytes each")
    data = password + operator + bytes((action, 0x00)) + _timestamp(valid_until)
    return Frame(address, Control.RELAY, data)


def clear_credit_request(address: str, *, password: bytes, operator: bytes) -> Frame:
    """The meter's credit clear as ``[clear_credit]`` in the identifier table describes it.

    UNVERIFIED against a real meter (0x1A "clear meter" with password and operator
    code, by default); raises ``ValueError`` when the table has no credit clear.
    """
    if CLEAR_CREDIT is None:
        raise ValueError("the DL/T 645 identifier table describes no credit clear")
    if len(password) != 4 or len(operator) != 4:
        raise ValueError("password (level + 3 bytes) and operator code must be 4 bytes each")
    fields = {"password": password, "operator": operator}
    return Frame(address, CLEAR_CREDIT.control, b"".join(fields[f] for f in CLEAR_CREDIT.data))


def parse_clear_credit(frame: Frame) -> dict[str, bytes]:
    """Inverse of :func:`clear_credit_request` (used by simulated meters): field → bytes."""
    if CLEAR_CREDIT is None or frame.function != CLEAR_CREDIT.control:
        raise BadFrame("not a credit clear frame")
    if len(frame.data) != 4 * len(CLEAR_CREDIT.data):
        raise BadFrame(f"credit clear data must be {4 * len(CLEAR_CREDIT.data)} bytes")
    return {f: frame.data[4 * i : 4 * i + 4] for i, f in enumerate(CLEAR_CREDIT.data)}


def time_sync_request(when: datetime) -> Frame:
    """0x08 broadcast time sync (no reply); ``when`` in the meters' local time."""
    return Frame(BROADCAST_ADDRESS, Control.BROADCAST_TIME, _timestamp(when))


@dataclass(frozen=True, slots=True)
class Recharge:
    """The fields of a 070102FF recharge (PEMS layout, see :func:`recharge_request`)."""

    amount_minor: int
    purchase_count: int
    mac: bytes
    customer_number: int


def recharge_request(address: str, operator: bytes, recharge: Recharge) -> Frame:
    """0x03 recharge: DI 070102FF, operator (4), amount (4), count (4), MAC1 (4),
    customer number (6 BCD), MAC2 (4).

    PEMS convention: amount and count are unsigned binary, LSB first; PEMS's MAC
    covers every field (see :mod:`pems.devices.security`), so the same 4 bytes
    fill both MAC slots.
    """
    if len(operator) != 4 or len(recharge.mac) != 4:
        raise ValueError("operator code and MAC must be 4 bytes each")
    data = (
        di_bytes(RECHARGE_DI)
        + operator
        + recharge.amount_minor.to_bytes(4, "little")
        + recharge.purchase_count.to_bytes(4, "little")
        + recharge.mac
        + bcd_encode(recharge.customer_number, 6)
        + recharge.mac
    )
    return Frame(address, Control.SECURITY, data)


def parse_recharge(frame: Frame) -> tuple[bytes, Recharge]:
    """Inverse of :func:`recharge_request` (used by simulated meters): operator, recharge."""
    data = frame.data
    if frame.function != Control.SECURITY or len(data) != 30 or data[:4] != di_bytes(RECHARGE_DI):
        raise BadFrame("not a 070102FF recharge frame")
    if data[16:20] != data[26:30]:
        raise BadFrame("recharge MAC1 and MAC2 differ")
    return data[4:8], Recharge(
        amount_minor=int.from_bytes(data[8:12], "little"),
        purchase_count=int.from_bytes(data[12:16], "little"),
        mac=data[16:20],
        customer_number=int(bcd_decode(data[20:26], 0)),
    )
