"""Communication counters kept in memory by the bus workers and stored in batches."""

from __future__ import annotations

from dataclasses import dataclass, field

from pems.devices.errors import BadFrame, DeviceError, ResponseTimeout


@dataclass(slots=True)
class Counters:
    """Cumulative request counters of one meter or gateway (latency in µs)."""

    requests: int = 0
    failures: int = 0
    timeouts: int = 0
    bad_frames: int = 0
    latency_total_us: int = 0
    last_latency_us: int = 0
    last_error: str = ""

    def ok(self, latency_us: int) -> None:
        """One answered request."""
        self.requests += 1
        self.latency_total_us += latency_us
        self.last_latency_us = latency_us

    def failed(self, error: DeviceError) -> None:
        """One failed request, classified."""
        self.requests += 1
        self.failures += 1
        if isinstance(error, ResponseTimeout):
            self.timeouts += 1
        elif isinstance(error, BadFrame):
            self.bad_frames += 1
        self.last_error = str(error)[:200]


@dataclass(slots=True)
class GatewayCounters(Counters):
    """A gateway's counters plus connection failures and its last sweep."""

    connect_failures: int = 0
    sweeps: int = 0
    last_sweep_ms: int = 0


@dataclass(slots=True)
class StatsSnapshot:
    """Counters to store: copies, so the writer thread never sees them change."""

    meters: dict[int, Counters] = field(default_factory=dict)
    gateways: dict[int, GatewayCounters] = field(default_factory=dict)
