"""Reading whole Modbus frames off a TCP stream: RTU (with CRC) and MBAP.

A transparent serial server passes RTU bytes through unframed, so the
simulator must find frame ends by function code, as a meter's UART would.
The CRC is pymodbus's (the same the clients compute).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pymodbus.framer.rtu import FramerRTU

MBAP_SIZE = 7
#: Longest pause inside one request before it is dropped. Bytes of one frame
#: arrive together over TCP; this is generous for loaded machines.
FRAME_GAP = 0.2
MAX_PDU = 253


class FramingError(Exception):
    """Bytes that cannot be a request (unknown function, bad length): resynchronise."""


def crc16(frame: bytes) -> bytes:
    """Modbus CRC of ``frame``, in wire order (low byte first)."""
    return int(FramerRTU.compute_CRC(frame)).to_bytes(2, "big")


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    """unit ‖ PDU ‖ CRC."""
    body = bytes((unit,)) + pdu
    return body + crc16(body)


async def read_rtu_request(reader: asyncio.StreamReader, gap: float = FRAME_GAP) -> bytes:
    """Read one RTU request ADU (address … CRC).

    Waits as long as needed for a first byte; the rest must follow within
    ``gap`` seconds, or the partial frame is dropped (FramingError), as a
    UART drops a frame interrupted by silence. FramingError too for an
    unknown function code.
    """
    head = await reader.readexactly(1)
    try:
        async with asyncio.timeout(gap):
            head += await reader.readexactly(1)
            function = head[1]
            if function in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06):
                return head + await reader.readexactly(6)
            if function in (0x0F, 0x10):
                fixed = await reader.readexactly(5)
                return head + fixed + await reader.readexactly(fixed[4] + 2)
    except TimeoutError:
        raise FramingError("frame interrupted by silence") from None
    raise FramingError(f"function 0x{function:02X} has no known RTU length")


@dataclass(frozen=True, slots=True)
class MbapRequest:
    """One Modbus-TCP request: transaction id, unit id (= meter address) and PDU."""

    transaction: int
    unit: int
    pdu: bytes


async def read_mbap_request(reader: asyncio.StreamReader) -> MbapRequest:
    """Read one MBAP-framed request; FramingError for a bad header."""
    head = await reader.readexactly(MBAP_SIZE)
    transaction = int.from_bytes(head[0:2], "big")
    protocol = int.from_bytes(head[2:4], "big")
    length = int.from_bytes(head[4:6], "big")
    if protocol != 0 or not 2 <= length <= MAX_PDU + 1:
        raise FramingError(f"MBAP header protocol {protocol} length {length} is invalid")
    return MbapRequest(transaction, head[6], await reader.readexactly(length - 1))


def mbap_frame(transaction: int, unit: int, pdu: bytes) -> bytes:
    """MBAP header ‖ PDU."""
    return (
        transaction.to_bytes(2, "big")
        + b"\x00\x00"
        + (len(pdu) + 1).to_bytes(2, "big")
        + bytes((unit,))
        + pdu
    )
