"""Freshness and health in Prometheus text format, served by a tiny asyncio HTTP server.

Exported per gateway: age of the oldest good reading, points online / never
read, last sweep time, request and failure counters; per site: the oldest
reading age; globally: commands in hand and command latency. No dependency
beyond the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pems.collector.worker import BusWorker


@dataclass(slots=True)
class CommandStats:
    """Confirmed/failed command counts and total latency (enqueue → settled)."""

    confirmed: int = 0
    failed: int = 0
    latency_sum: float = 0.0
    last_latency: float = 0.0
    in_hand: set[int] = field(default_factory=set)
    open_in_db: int = 0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def oldest_age(worker: BusWorker, now: float) -> float | None:
    """Seconds since the oldest good reading among the bus's points (None if none read)."""
    if not worker.last_good:
        return None
    return now - min(worker.last_good.values())


def render(workers: Iterable[BusWorker], commands: CommandStats, now: float | None = None) -> str:
    """The metrics page."""
    now = time.time() if now is None else now
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    ages, online, never, sweep, requests, failures = [], [], [], [], [], []
    site_age: dict[str, float] = {}
    for w in workers:
        labels = f'{{site="{_label(w.spec.site)}",gateway="{_label(w.spec.name)}"}}'
        age = oldest_age(w, now)
        if age is not None:
            ages.append((labels, round(age, 3)))
            site_age[w.spec.site] = max(site_age.get(w.spec.site, 0.0), age)
        healthy = sum(1 for b in w.breakers.values() if b.failures < w.config.offline_after)
        online.append((labels, healthy))
        never.append((labels, len(w.targets) - len(w.last_good)))
        if w.last_sweep is not None:
            sweep.append((labels, round(w.last_sweep.seconds, 3)))
        requests.append((labels, w.counters.requests))
        failures.append((labels, w.counters.failures))
    metric("pems_oldest_reading_age_seconds", "gauge",
           "Age of the oldest good reading of a gateway's points.", ages)  # fmt: skip
    metric("pems_site_oldest_reading_age_seconds", "gauge",
           "Age of the oldest good reading on a site.",
           [(f'{{site="{_label(s)}"}}', round(a, 3)) for s, a in site_age.items()])  # fmt: skip
    metric("pems_points_online", "gauge", "Points currently answering.", online)
    metric("pems_points_never_read", "gauge", "Points not read since start.", never)
    metric("pems_sweep_seconds", "gauge", "Duration of the gateway's last sweep.", sweep)
    metric("pems_requests_total", "counter", "Requests sent on the bus.", requests)
    metric("pems_request_failures_total", "counter", "Requests that failed.", failures)
    metric("pems_command_queue_depth", "gauge", "Open commands (in the database).",
           [("", commands.open_in_db)])  # fmt: skip
    metric("pems_commands_in_hand", "gauge", "Commands handed to bus workers.",
           [("", len(commands.in_hand))])  # fmt: skip
    metric("pems_command_latency_seconds_sum", "counter",
           "Total enqueue-to-settled time of settled commands.",
           [("", round(commands.latency_sum, 3))])  # fmt: skip
    metric("pems_command_latency_seconds_count", "counter", "Settled commands.",
           [("", commands.confirmed + commands.failed)])  # fmt: skip
    return "\n".join(lines) + "\n"


async def serve_metrics(
    page: Callable[[], str], host: str = "127.0.0.1", port: int = 0
) -> asyncio.Server:
    """Serve ``GET /metrics`` on ``host:port`` (0 = a free port); returns the server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
            if path.split(b"?")[0] == b"/metrics":
                body, status = page().encode(), "200 OK"
            else:
                body, status = b"not found: try /metrics\n", "404 Not Found"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port)
