"""Minimal loopback peers for driver tests (the full simulator lives in pems.sim).

They speak just enough Modbus-RTU / Modbus-TCP / DL/T 645 to exercise the
drivers over real sockets, and record what they saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pems.devices.dlt645 import Frame, encode_frame, split_frame


def crc16(data: bytes) -> int:
    """Modbus CRC-16 (poly 0xA001, init 0xFFFF), written independently of pymodbus."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


WriteHook = Callable[[int, int, list[int]], int | None]


@dataclass
class FakeModbusGateway:
    """A gateway with register banks per unit; ``rtu`` selects RTU-over-TCP vs Modbus-TCP."""

    rtu: bool = True
    delay: float = 0.0
    registers: dict[int, dict[int, int]] = field(default_factory=dict)
    dead: set[int] = field(default_factory=set)
    hang_up_on: set[int] = field(default_factory=set)
    forced_replies: dict[int, bytes] = field(default_factory=dict)
    on_write: WriteHook | None = None
    connections: int = 0
    requests: int = 0
    overlapped: bool = False
    writes: list[tuple[int, int, list[int]]] = field(default_factory=list)
    _busy: bool = False
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()

    def load(self, unit: int, start: int, words: list[int]) -> None:
        bank = self.registers.setdefault(unit, {})
        for offset, word in enumerate(words):
            bank[start + offset] = word

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                unit, pdu, header = await self._read_request(reader)
                if unit in self.hang_up_on:
                    break
                if self._busy:
                    self.overlapped = True
                self._busy = True
                self.requests += 1
                reply = self._answer(unit, pdu)
                await asyncio.sleep(self.delay)
                self._busy = False
                if reply is None:
                    continue
                writer.write(self._frame(unit, reply, header))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
        if not self.rtu:
            header = await reader.readexactly(7)
            length = int.from_bytes(header[4:6], "big")
            pdu = await reader.readexactly(length - 1)
            return header[6], pdu, header
        head = await reader.readexactly(2)
        if head[1] == 0x10:
            rest = await reader.readexactly(5)
            rest += await reader.readexactly(rest[4] + 2)
        else:
            rest = await reader.readexactly(6)
        frame = head + rest
        if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
            raise ConnectionError("bad CRC from client")
        return head[0], frame[1:-2], b""

    def _frame(self, unit: int, pdu: bytes, header: bytes) -> bytes:
        if not self.rtu:
            return header[:4] + (len(pdu) + 1).to_bytes(2, "big") + bytes([unit]) + pdu
        body = bytes([unit]) + pdu
        return body + crc16(body).to_bytes(2, "little")

    def _answer(self, unit: int, pdu: bytes) -> bytes | None:
        if unit in self.forced_replies:
            return self.forced_replies[unit]
        if unit in self.dead or unit not in self.registers:
            return None
        bank = self.registers[unit]
        fc = pdu[0]
        start = int.from_bytes(pdu[1:3], "big")
        count = int.from_bytes(pdu[3:5], "big")
        if fc == 0x03:
            if any(start + i not in bank for i in range(count)):
                return bytes([0x83, 0x02])
            data = b"".join(bank[start + i].to_bytes(2, "big") for i in range(count))
            return bytes([0x03, len(data)]) + data
        if fc == 0x10:
            words = [int.from_bytes(pdu[6 + 2 * i : 8 + 2 * i], "big") for i in range(count)]
            self.writes.append((unit, start, words))
            code = self.on_write(unit, start, words) if self.on_write else None
            if code:
                return bytes([0x90, code])
            self.load(unit, start, words)
            return pdu[:5]
        return bytes([fc | 0x80, 0x01])


@dataclass
class FakeDlt645Gateway:
    """A transparent gateway with DL/T 645 meters answering through ``handler``."""

    handler: Callable[[Frame], Frame | bytes | None]
    prefix: bytes = b""
    frames: list[Frame] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        buffer = b""
        try:
            while chunk := await reader.read(256):
                buffer += chunk
                while True:
                    frame, used = split_frame(buffer)
                    buffer = buffer[used:]
                    if frame is None:
                        break
                    self.frames.append(frame)
                    reply = self.handler(frame)
                    if isinstance(reply, Frame):
                        reply = self.prefix + encode_frame(reply)
                    if reply is not None:
                        writer.write(reply)
                        await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
