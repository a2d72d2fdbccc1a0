"""One TCP connection per DL/T 645 bus behind a transparent gateway.

Like :class:`~pems.devices.bus.ModbusBus`: one request in flight (a lock), a
short timeout, no internal retries, reconnect on the next request with a
short back-off.  Bytes left over from an earlier, timed-out request are
discarded before each new request, line noise before a frame is skipped, and
replies from another address (or echoes of our request) are ignored, so a
late answer never poisons the next meter's read.  A frame with a bad
checksum is a :class:`~pems.devices.errors.BadFrame`.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from pems.devices.bus import BusConfig, Framing
from pems.devices.dlt645 import WILDCARD_ADDRESS, Frame, encode_frame, split_frame
from pems.devices.errors import (
    CANNOT_CONNECT_BECAUSE,
    CONNECTION_DROPPED,
    GATEWAY_UNREACHABLE,
    NO_REPLY,
    BadFrame,
    GatewayUnavailable,
    ResponseTimeout,
)
from pems.domain.messages import Message


class _Link(asyncio.Protocol):
    """Collects received bytes and wakes the waiting request."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.arrived = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # TCP connections only

    def data_received(self, data: bytes) -> None:
        self.buffer.extend(data)
        self.arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.arrived.set()


class Dlt645Bus:
    """A DL/T 645 connection shared by every driver on one bus."""

    def __init__(self, config: BusConfig) -> None:
        if config.framing is not Framing.DLT645:
            raise ValueError("Dlt645Bus needs BusConfig(framing=Framing.DLT645)")
        self.config = config
        self._lock = asyncio.Lock()
        self._link: _Link | None = None
        self._retry_connect_at = 0.0
        self.connects = 0
        """Successful TCP connects so far (more than 1 means the link was re-opened)."""

    @property
    def endpoint(self) -> str:
        """``host:port`` of the gateway."""
        return self.config.endpoint

    async def close(self) -> None:
        """Close the TCP connection (the next request reopens it)."""
        async with self._lock:
            if self._link is not None and self._link.transport is not None:
                self._link.transport.close()
            self._link = None

    async def request(self, frame: Frame, *, expect_reply: bool = True) -> Frame | None:
        """Send ``frame``; return the meter's reply (``None`` when none is expected)."""
        async with self._lock:
            link = await self._connected(frame.address)
            link.buffer.clear()
            cast(asyncio.Transport, link.transport).write(encode_frame(frame))
            if not expect_reply:
                return None
            return await self._await_reply(link, frame.address)

    async def _await_reply(self, link: _Link, address: str) -> Frame:
        deadline = time.monotonic() + self.config.timeout
        while True:
            link.arrived.clear()
            # Line noise before a frame is common after a bus turnaround: skip to 0x68.
            start = link.buffer.find(0x68)
            del link.buffer[: start if start >= 0 else len(link.buffer)]
            try:
                reply, used = split_frame(bytes(link.buffer))
            except BadFrame as exc:
                link.buffer.clear()
                raise BadFrame(exc.detail, endpoint=self.endpoint, address=address) from exc
            del link.buffer[:used]
            if reply is not None:
                if reply.is_reply and (address == WILDCARD_ADDRESS or reply.address == address):
                    return reply
                continue  # a stale or foreign frame: keep waiting for ours
            if link.lost:
                self._link = None
                raise GatewayUnavailable(
                    Message(CONNECTION_DROPPED), endpoint=self.endpoint, address=address
                )
            remaining = deadline - time.monotonic()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    await link.arrived.wait()
            except TimeoutError:
                raise ResponseTimeout(
                    Message.of(NO_REPLY, seconds=str(self.config.timeout)),
                    endpoint=self.endpoint,
                    address=address,
                ) from None

    async def _connected(self, address: str) -> _Link:
        if self._link is not None and not self._link.lost:
            return self._link
        now = time.monotonic()
        if now < self._retry_connect_at:
            raise GatewayUnavailable(
                Message(GATEWAY_UNREACHABLE), endpoint=self.endpoint, address=address
            )
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                _, link = await loop.create_connection(_Link, self.config.host, self.config.port)
        except (TimeoutError, OSError) as exc:
            self._retry_connect_at = now + self.config.reconnect_backoff
            raise GatewayUnavailable(
                Message.of(CANNOT_CONNECT_BECAUSE, error=str(exc)),
                endpoint=self.endpoint,
                address=address,
            ) from exc
        self._link = link
        self.connects += 1
        return link
