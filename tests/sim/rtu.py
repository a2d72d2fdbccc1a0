"""A raw RTU-over-TCP exchange for fault tests (CRC computed by pymodbus, not by PEMS)."""

from __future__ import annotations

import asyncio

from pymodbus.framer.rtu import FramerRTU


def crc(frame: bytes) -> bytes:
    return int(FramerRTU.compute_CRC(frame)).to_bytes(2, "big")


def read_request(unit: int, start: int, count: int) -> bytes:
    body = bytes((unit, 0x03)) + start.to_bytes(2, "big") + count.to_bytes(2, "big")
    return body + crc(body)


def crc_ok(frame: bytes) -> bool:
    return crc(frame[:-2]) == frame[-2:]


class RawLink:
    """One TCP connection to a simulated RTU-over-TCP gateway."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> RawLink:
        return cls(*await asyncio.open_connection(host, port))

    async def read(self, unit: int, start: int, count: int, timeout: float = 0.3) -> bytes | None:
        """Send a read; the reply (5 + 2·count bytes) or None when nothing comes back."""
        self.writer.write(read_request(unit, start, count))
        await self.writer.drain()
        try:
            return await asyncio.wait_for(self.reader.readexactly(5 + 2 * count), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.writer.close()
