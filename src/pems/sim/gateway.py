"""A simulated gateway: one TCP endpoint in front of one half-duplex RS485 bus.

Every connection's requests go through the bus lock, so the bus carries one
transaction at a time however many clients connect; each transaction holds
the lock for its real line time (:mod:`pems.sim.timing`). Meters that do not
exist, are dead, or receive a corrupt request stay silent, as on a real bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from functools import partial

from pems.devices.dlt645 import (
    BROADCAST_ADDRESS,
    WILDCARD_ADDRESS,
    Control,
    Frame,
    encode_frame,
    split_frame,
)
from pems.devices.errors import BadFrame
from pems.sim.dlt645_face import Dlt645Face, time_sync
from pems.sim.meter import SimMeter
from pems.sim.modbus_face import ModbusFace, exception
from pems.sim.timing import BusTiming
from pems.sim.wire import (
    FRAME_GAP,
    FramingError,
    MbapRequest,
    crc16,
    mbap_frame,
    read_mbap_request,
    read_rtu_request,
    rtu_frame,
)
from pems.siteplan import Gateway, Protocol

log = logging.getLogger(__name__)

GATEWAY_TARGET_FAILED = 0x0B
#: (reply bytes to send or None, reply size on the serial line or None, extra turnaround s)
Answer = tuple[bytes | None, int | None, float]
_SILENT: Answer = (None, None, 0.0)


def _silent() -> Answer:
    return _SILENT


class SimGateway:
    """Serves one gateway's bus on a TCP port in its plan protocol."""

    def __init__(
        self,
        spec: Gateway,
        meters: list[SimMeter],
        timing: BusTiming,
        modbus: ModbusFace,
        dlt645: Dlt645Face,
    ) -> None:
        self.spec = spec
        self.meters: dict[int, SimMeter] = {m.address: m for m in meters}
        self.timing = timing
        self.down = False
        self.host = spec.host
        self.port = spec.port
        self.requests = 0
        self.answers = 0
        self._modbus = modbus
        self._dlt645 = dlt645
        self._lock = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def code(self) -> str:
        """The gateway's code in the plan."""
        return self.spec.code

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; see :attr:`port`)."""
        self._server = await asyncio.start_server(self._client, host, port, backlog=64)
        self.host, self.port = host, self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every connection."""
        if self._server is not None:
            self._server.close()
            self.drop_connections()
            await self._server.wait_closed()
            self._server = None

    def drop_connections(self) -> int:
        """Cut every open TCP connection now (a gateway reboot); returns how many."""
        writers, self._writers = self._writers, set()
        for writer in writers:
            writer.transport.abort()
        if writers:
            log.info("gateway %s: dropped %d connection(s)", self.code, len(writers))
        return len(writers)

    def set_down(self, down: bool) -> None:
        """While down, the gateway drops its connections and refuses new ones."""
        self.down = down
        log.info("gateway %s is %s", self.code, "down" if down else "up")
        if down:
            self.drop_connections()

    # -- connections ------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        self._writers.add(writer)
        serve = {
            Protocol.MODBUS_RTU_OVER_TCP: self._serve_rtu,
            Protocol.MODBUS_TCP: self._serve_mbap,
            Protocol.DLT645_OVER_TCP: self._serve_dlt645,
        }[self.spec.protocol]
        try:
            await serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _transact(self, request_size: int, answer: Callable[[], Answer]) -> bytes | None:
        """Hold the bus for one transaction's line time; the meter answers inside it."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            started = loop.time()
            self.requests += 1
            reply, reply_size, extra = answer()
            delay = self.timing.transaction(request_size, reply_size, extra)
            if delay > 0:
                await asyncio.sleep(started + delay - loop.time())
            if reply is not None:
                self.answers += 1
            return reply

    def _meter(self, address: int) -> SimMeter | None:
        meter = self.meters.get(address)
        return None if meter is None or meter.faults.dead else meter

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, reply: bytes | None) -> None:
        if reply is not None:
            writer.write(reply)
            await writer.drain()

    async def _resync(self, reader: asyncio.StreamReader) -> None:
        """Drop bytes until the line is quiet, as a UART does after garbage."""
        quiet = max(self.timing.gap, 0.01)
        with contextlib.suppress(TimeoutError):
            while True:
                async with asyncio.timeout(quiet):
                    if not await reader.read(4096):
                        return

    # -- Modbus RTU over TCP ----------------------------------------------

    async def _serve_rtu(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                adu = await read_rtu_request(reader)
            except FramingError:
                await self._resync(reader)
                continue
            if crc16(adu[:-2]) != adu[-2:]:
                # Noise on the line: nobody answers, and the UART re-finds frame starts
                # at the next silence (the bytes read may have straddled two frames).
                await self._transact(len(adu), _silent)
                await self._resync(reader)
                continue
            await self._send(writer, await self._transact(len(adu), partial(self._rtu, adu)))

    def _rtu(self, adu: bytes) -> Answer:
        meter = self._meter(adu[0])
        if meter is None:
            return _SILENT
        reply = rtu_frame(adu[0], self._modbus.handle(meter, adu[1:-2]))
        if meter.faults.garbled:
            reply = reply[:-1] + bytes((reply[-1] ^ 0xFF,))
        return reply, len(reply), meter.faults.slow_ms / 1000

    # -- Modbus-TCP (MBAP, unit id = meter address) -------------------------

    async def _serve_mbap(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await read_mbap_request(reader)
            except FramingError:
                await self._resync(reader)
                continue
            answer = partial(self._mbap, request)
            await self._send(writer, await self._transact(len(request.pdu) + 3, answer))

    def _mbap(self, request: MbapRequest) -> Answer:
        meter = self._meter(request.unit)
        if meter is None:
            return _SILENT
        reply = self._modbus.handle(meter, request.pdu)
        serial_size = len(reply) + 3
        if meter.faults.garbled:  # the gateway saw a bad CRC on its serial side
            reply = exception(request.pdu[0], GATEWAY_TARGET_FAILED)
        frame = mbap_frame(request.transaction, request.unit, reply)
        return frame, serial_size, meter.faults.slow_ms / 1000

    # -- DL/T 645-2007 over TCP ---------------------------------------------

    async def _serve_dlt645(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        buffer = b""
        while True:
            try:
                frame, used = split_frame(buffer)
            except BadFrame:
                buffer = b""
                await self._resync(reader)
                continue
            if frame is None:
                buffer = buffer[used:]
                try:  # a frame interrupted by silence is dropped, as by a UART
                    async with asyncio.timeout(FRAME_GAP if buffer else None):
                        chunk = await reader.read(4096)
                except TimeoutError:
                    buffer = b""
                    continue
                if not chunk:
                    return
                buffer += chunk
                continue
            buffer = buffer[used:]
            await self._send(writer, await self._transact(used, partial(self._dlt, frame)))

    def _dlt(self, frame: Frame) -> Answer:
        if frame.address == BROADCAST_ADDRESS:
            if frame.function == Control.BROADCAST_TIME:
                time_sync([m for m in self.meters.values() if not m.faults.dead], frame)
            return _SILENT
        if frame.address == WILDCARD_ADDRESS:
            live = [m for m in self.meters.values() if not m.faults.dead]
            meter = live[0] if len(live) == 1 else None
        else:
            meter = self._meter(int(frame.address)) if frame.address.isdigit() else None
        if meter is None:
            return _SILENT
        reply = encode_frame(self._dlt645.handle(meter, frame))
        if meter.faults.garbled:
            reply = reply[:-2] + bytes((reply[-2] ^ 0xFF, reply[-1]))
        return reply, len(reply), meter.faults.slow_ms / 1000
