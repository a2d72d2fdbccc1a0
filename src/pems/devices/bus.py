"""One connection per RS485 bus (gateway endpoint), shared by its meters' drivers.

:class:`ModbusBus` wraps one pymodbus ``AsyncModbusTcpClient`` — with the RTU
framer for a transparent serial server, or the Modbus-TCP framer for a gateway
that maps the unit id to the meter address — and guarantees:

* strictly one request in flight (an ``asyncio.Lock``; the bus is half duplex);
* a short per-request timeout and **no** internal retries (``retries=0``):
  the collector decides what to retry;
* a silent meter never closes the connection for the healthy meters behind
  the same gateway: pymodbus's "close after retries + 3 unanswered requests"
  limit is lifted, and its background reconnect is off — the bus reconnects
  on the next request instead, with a short back-off after a failed attempt;
* pymodbus exceptions become :mod:`pems.devices.errors` types naming the
  endpoint and meter.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerType

from pems.devices.errors import (
    CANNOT_CONNECT,
    CONNECTION_LOST,
    GATEWAY_UNREACHABLE,
    BadFrame,
    ExceptionResponse,
    GatewayUnavailable,
    ResponseTimeout,
)
from pems.domain.messages import Message, gettext_noop

NEVER_DISCONNECT = 2**31
"""Unanswered-request budget given to pymodbus: effectively never drop the link."""

MODBUS_EXCEPTIONS = {
    1: gettext_noop("illegal function"),
    2: gettext_noop("illegal data address"),
    3: gettext_noop("illegal data value"),
    4: gettext_noop("device failure"),
    5: gettext_noop("acknowledge"),
    6: gettext_noop("device busy"),
    10: gettext_noop("gateway path unavailable"),
    11: gettext_noop("gateway target failed to respond"),
}

#: What a person reads when a read or a write of registers fails, by the request.
_NO_REPLY = {
    "read": gettext_noop("no read reply within %(seconds)s s"),
    "write": gettext_noop("no write reply within %(seconds)s s"),
}
_REFUSED = {
    "read": gettext_noop("Modbus exception %(code)s (%(name)s) to read"),
    "write": gettext_noop("Modbus exception %(code)s (%(name)s) to write"),
}


class Framing(enum.Enum):
    """How a gateway carries the RS485 bus over TCP (values match site-plan protocols)."""

    RTU_OVER_TCP = "modbus-rtu-over-tcp"
    MODBUS_TCP = "modbus-tcp"
    DLT645 = "dlt645-over-tcp"


@dataclass(frozen=True, slots=True)
class BusConfig:
    """Where a bus is reached and how long to wait.

    ``timeout`` bounds each request (seconds); ``connect_timeout`` bounds opening
    the TCP connection (pymodbus also gives up a connect after ``timeout``);
    ``reconnect_backoff`` is how long a failed connection attempt makes later
    requests fail fast.
    """

    host: str
    port: int
    framing: Framing
    timeout: float = 0.4
    connect_timeout: float = 2.0
    reconnect_backoff: float = 1.0

    @property
    def endpoint(self) -> str:
        """``host:port`` as used in error messages."""
        return f"{self.host}:{self.port}"


class ModbusBus:
    """A Modbus connection shared by every driver on one bus."""

    def __init__(self, config: BusConfig) -> None:
        if config.framing is Framing.DLT645:
            raise ValueError("use Dlt645Bus for DL/T 645 buses")
        framer = FramerType.RTU if config.framing is Framing.RTU_OVER_TCP else FramerType.SOCKET
        self.config = config
        self._client = AsyncModbusTcpClient(
            config.host,
            port=config.port,
            framer=framer,
            timeout=config.timeout,
            retries=0,
            reconnect_delay=0,
        )
        self._client.set_max_no_responses(NEVER_DISCONNECT)
        self._lock = asyncio.Lock()
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
            self._client.close()

    async def read(self, unit: int, start: int, count: int) -> list[int]:
        """FC03: read ``count`` holding registers from meter ``unit``."""
        response = await self._execute(
            unit, "read", 0x03, lambda: self._client.read_holding_registers(
                start, count=count, device_id=unit
            ),
        )  # fmt: skip
        registers = list(getattr(response, "registers", []))
        if len(registers) != count:
            raise BadFrame(
                f"read of {count} registers at 0x{start:04X} returned {len(registers)}",
                endpoint=self.endpoint,
                address=unit,
            )
        return registers

    async def write(self, unit: int, start: int, words: list[int]) -> None:
        """FC16: write ``words`` starting at ``start`` on meter ``unit``."""
        await self._execute(
            unit, "write", 0x10, lambda: self._client.write_registers(start, words, device_id=unit)
        )

    async def _execute(self, unit: int, what: str, function: int, call: Any) -> Any:
        async with self._lock:
            await self._ensure_connected(unit)
            # pymodbus enforces config.timeout; the outer bound only guards a lost link.
            guard = self.config.timeout * 2 + 1.0
            try:
                async with asyncio.timeout(guard):
                    response = await call()
            except (ModbusIOException, TimeoutError) as exc:
                raise ResponseTimeout(
                    Message.of(_NO_REPLY[what], seconds=str(self.config.timeout)),
                    endpoint=self.endpoint,
                    address=unit,
                ) from exc
            except ConnectionException as exc:
                raise GatewayUnavailable(
                    Message.of(CONNECTION_LOST, error=str(exc)),
                    endpoint=self.endpoint,
                    address=unit,
                ) from exc
            except ModbusException as exc:
                raise BadFrame(
                    f"bad {what} reply: {exc}", endpoint=self.endpoint, address=unit
                ) from exc
        if response.function_code & 0x7F != function:
            raise BadFrame(
                f"reply with function 0x{response.function_code:02X} to a {what} "
                f"(0x{function:02X})",
                endpoint=self.endpoint,
                address=unit,
            )
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            name = Message(MODBUS_EXCEPTIONS.get(code, gettext_noop("unknown")))
            raise ExceptionResponse(
                Message.of(_REFUSED[what], code=code, name=name),
                code=code,
                endpoint=self.endpoint,
                address=unit,
            )
        return response

    async def _ensure_connected(self, unit: int) -> None:
        if self._client.connected:
            return
        now = time.monotonic()
        if now < self._retry_connect_at:
            raise GatewayUnavailable(
                Message(GATEWAY_UNREACHABLE), endpoint=self.endpoint, address=unit
            )
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                ok = await self._client.connect()
        except (TimeoutError, OSError):
            ok = False
        if not ok:
            self._retry_connect_at = now + self.config.reconnect_backoff
            raise GatewayUnavailable(Message(CANNOT_CONNECT), endpoint=self.endpoint, address=unit)
        self.connects += 1
