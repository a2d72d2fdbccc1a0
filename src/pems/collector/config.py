"""Collector settings as one frozen record (command-line flags fill it in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """How the collector paces buses, backs off and stores.

    Durations are seconds (timings, not quantities). ``min_period`` is the
    shortest time between the starts of two sweeps of one bus; ``timeout``
    bounds one request; a meter that fails is skipped for ``backoff_base``
    seconds, doubling per consecutive failure up to ``backoff_max``, and is
    marked offline after ``offline_after`` consecutive failures.
    """

    min_period: float = 0.0
    timeout: float = 0.4
    connect_timeout: float = 2.0
    backoff_base: float = 2.0
    backoff_max: float = 60.0
    offline_after: int = 2
    gateway_backoff_base: float = 1.0
    gateway_backoff_max: float = 30.0
    interval: timedelta = timedelta(minutes=15)
    batch_size: int = 2000
    flush_seconds: float = 0.5
    command_poll_seconds: float = 0.25
    command_max_attempts: int = 5
    command_retry_seconds: float = 1.0
    clock_drift_seconds: int = 300
    shard: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.min_period < 0:
            raise ValueError("timeout must be positive and min_period not negative")
        if self.interval < timedelta(minutes=1) or timedelta(days=1) % self.interval:
            raise ValueError("the interval must be whole minutes that divide a day")
        index, count = self.shard
        if not 1 <= index <= count:
            raise ValueError(f"shard {index}/{count}: K must be between 1 and N")
