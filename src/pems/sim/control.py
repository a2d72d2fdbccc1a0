"""The simulator's control channel: one JSON object per line in, one per line out.

Operations (see docs/simulator.md)::

    {"op": "endpoints"}
    {"op": "state",   "gateway": "GW-S1", "address": 5}
    {"op": "fault",   "gateway": "GW-S1", "address": 5, "dead": true, "slow_ms": 300,
                      "garbled": false, "clock_drift_s": 90}        # any subset
    {"op": "clear",   "gateway": "GW-S1", "address": 5}            # all faults off
    {"op": "replace", "gateway": "GW-S1", "address": 5, "meter_number": "240100009999"}
    {"op": "credit",  "gateway": "GW-S1", "address": 5, "credit": "12.50"}
    {"op": "drop",    "gateway": "GW-S1"}                          # cut its connections
    {"op": "down",    "gateway": "GW-S1", "down": true}            # refuse connections
    {"op": "stats"}

Replies are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any

from pems.sim.meter import Faults, SimMeter
from pems.sim.site import SimSite, SiteError

log = logging.getLogger(__name__)
MAX_LINE = 64 * 1024

Reply = dict[str, Any]
_KINDS = {int: "a whole number", str: "a string", bool: "true or false"}


class CommandError(Exception):
    """A control command is malformed; the message says which field."""


def _field(command: Mapping[str, Any], name: str, kind: type) -> Any:
    value = command.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CommandError(f"{name!r} must be {_KINDS.get(kind, kind.__name__)}")
    return value


def _meter(site: SimSite, command: Mapping[str, Any]) -> SimMeter:
    return site.meter(_field(command, "gateway", str), _field(command, "address", int))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _state(site: SimSite, command: Mapping[str, Any]) -> Reply:
    meter = _meter(site, command)
    return {"state": _jsonable(asdict(meter.snapshot())), "faults": asdict(meter.faults)}


def _fault(site: SimSite, command: Mapping[str, Any]) -> Reply:
    meter = _meter(site, command)
    kinds = {"dead": bool, "slow_ms": int, "garbled": bool, "clock_drift_s": int}
    for name, kind in kinds.items():
        if name in command:
            setattr(meter.faults, name, _field(command, name, kind))
    return {"faults": asdict(meter.faults)}


def _clear(site: SimSite, command: Mapping[str, Any]) -> Reply:
    meter = _meter(site, command)
    meter.faults = Faults()
    return {"faults": asdict(meter.faults)}


def _replace(site: SimSite, command: Mapping[str, Any]) -> Reply:
    number = _field(command, "meter_number", str)
    if not (number.isdigit() and len(number) == 12):
        raise CommandError("'meter_number' must be 12 digits")
    _meter(site, command).replace(number)
    return {"meter_number": number}


def _credit(site: SimSite, command: Mapping[str, Any]) -> Reply:
    try:
        credit = Decimal(_field(command, "credit", str))
    except InvalidOperation:
        raise CommandError("'credit' must be a decimal string such as \"12.50\"") from None
    _meter(site, command).set_credit(credit)
    return {"credit": str(credit)}


def _drop(site: SimSite, command: Mapping[str, Any]) -> Reply:
    return {"dropped": site.gateway(_field(command, "gateway", str)).drop_connections()}


def _down(site: SimSite, command: Mapping[str, Any]) -> Reply:
    gateway = site.gateway(_field(command, "gateway", str))
    gateway.set_down(_field(command, "down", bool))
    return {"down": gateway.down}


def _endpoints(site: SimSite, _command: Mapping[str, Any]) -> Reply:
    return {
        "endpoints": [
            {
                "gateway": e.gateway,
                "host": e.host,
                "port": e.port,
                "protocol": e.protocol.value,
                "meters": e.meters,
            }
            for e in site.endpoints
        ]
    }


def _stats(site: SimSite, _command: Mapping[str, Any]) -> Reply:
    return {
        "gateways": {g.code: {"requests": g.requests, "answers": g.answers} for g in site.gateways}
    }


OPERATIONS: dict[str, Callable[[SimSite, Mapping[str, Any]], Reply]] = {
    "endpoints": _endpoints,
    "state": _state,
    "fault": _fault,
    "clear": _clear,
    "replace": _replace,
    "credit": _credit,
    "drop": _drop,
    "down": _down,
    "stats": _stats,
}


def apply_command(site: SimSite, line: str | bytes) -> Reply:
    """Run one JSON command against ``site``; never raises for bad input."""
    try:
        command = json.loads(line)
        if not isinstance(command, dict):
            raise CommandError("a command is a JSON object")
        operation = OPERATIONS.get(command.get("op", ""))
        if operation is None:
            raise CommandError(f"'op' must be one of {sorted(OPERATIONS)}")
        return {"ok": True, **operation(site, command)}
    except (ValueError, CommandError, SiteError) as exc:
        return {"ok": False, "error": str(exc)}


class ControlServer:
    """Serves :func:`apply_command` over TCP, one JSON line per command."""

    def __init__(self, site: SimSite) -> None:
        self.site = site
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        """Listen (port 0 picks a free one; see :attr:`port`)."""
        self._server = await asyncio.start_server(self._client, host, port, limit=MAX_LINE)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = apply_command(self.site, line)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError) as exc:  # ValueError: line over MAX_LINE
            log.info("control connection closed: %s", exc)
        finally:
            writer.close()
