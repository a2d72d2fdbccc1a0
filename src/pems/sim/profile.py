"""Deterministic load profiles and the time-of-use table, loaded from ``profile.toml``.

A meter's consumption rate depends only on its seed (from the meter number),
the local day and hour: the same meter always draws the same curve, so runs
are reproducible and state can be computed lazily for any interval.
Rates are in milli-units per hour (W for energy, L/h for water).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pems.sim.clock import MS_PER_DAY, MS_PER_HOUR
from pems.siteplan import ModelCode

TARIFF_NAMES = ("sharp", "peak", "flat", "valley")


class ProfileError(Exception):
    """profile.toml is malformed; the message names the key."""


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """Daily shape, TOU table and per-model base loads of the simulated site."""

    utc_offset_ms: int
    shape: tuple[int, ...]
    tou: tuple[int, ...]
    day_factor: tuple[int, int]
    base_load: dict[ModelCode, tuple[int, int]]

    def local_hour(self, t_ms: int) -> int:
        """Local hour of day (0–23) at epoch ms ``t_ms``."""
        return (t_ms + self.utc_offset_ms) // MS_PER_HOUR % 24

    def tariff(self, t_ms: int) -> int:
        """TOU rate index in force at ``t_ms``: 0 sharp, 1 peak, 2 flat, 3 valley."""
        return self.tou[self.local_hour(t_ms)] - 1

    def base(self, model: ModelCode, seed: int) -> int:
        """A meter's base load from its seed, within its model's range."""
        low, high = self.base_load[model]
        return low + _mix(seed, 0x5BD1) % (high - low + 1)

    def rate(self, base: int, seed: int, t_ms: int) -> int:
        """Consumption rate at ``t_ms`` (constant within a local hour)."""
        local = t_ms + self.utc_offset_ms
        day, hour = local // MS_PER_DAY, local // MS_PER_HOUR % 24
        low, high = self.day_factor
        factor = low + _mix(seed, day) % (high - low + 1)
        return base * self.shape[hour] * factor // 10_000


def _mix(seed: int, salt: int) -> int:
    """A cheap, well-spread 32-bit hash (not for security)."""
    h = (seed * 0x9E3779B1 + salt * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
    return h ^ (h >> 12)


def _ints(raw: dict[str, Any], key: str, length: int, low: int, high: int) -> tuple[int, ...]:
    value = raw.get(key)
    if (
        not isinstance(value, list)
        or len(value) != length
        or not all(isinstance(v, int) and low <= v <= high for v in value)
    ):
        raise ProfileError(f"profile.toml: {key} must be {length} whole numbers in {low}–{high}")
    return tuple(value)


def load_profile() -> LoadProfile:
    """Read and check the packaged profile.toml."""
    text = resources.files(__package__).joinpath("profile.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    offset = raw.get("utc_offset_hours")
    if not isinstance(offset, int) or not -12 <= offset <= 14:
        raise ProfileError("profile.toml: utc_offset_hours must be a whole number of hours")
    low, high = _ints(raw, "day_factor_percent", 2, 0, 1000)
    bases: dict[ModelCode, tuple[int, int]] = {}
    for model in ModelCode:
        pair = _ints(raw.get("base_load", {}), model.value, 2, 0, 10_000_000)
        if pair[0] > pair[1]:
            raise ProfileError(f"profile.toml: base_load {model.value} low is above high")
        bases[model] = (pair[0], pair[1])
    if low > high:
        raise ProfileError("profile.toml: day_factor_percent low is above high")
    return LoadProfile(
        utc_offset_ms=offset * MS_PER_HOUR,
        shape=_ints(raw, "shape", 24, 0, 1000),
        tou=_ints(raw, "tou", 24, 1, 4),
        day_factor=(low, high),
        base_load=bases,
    )


PROFILE = load_profile()
