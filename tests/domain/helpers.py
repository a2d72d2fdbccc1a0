"""Small builders shared by the domain tests (plain functions, no fixtures needed)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pems.domain.pricing import UsageInterval
from pems.domain.quantities import kwh
from pems.domain.tariff import Tariff
from pems.domain.tariff_file import load_tariff

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def tariff(body: str, zone: str = "Asia/Shanghai", cycle: str = "month") -> Tariff:
    """A tariff from the TOML of its versions (the header is filled in)."""
    header = f'name = "test"\ncurrency = "CNY"\ntimezone = "{zone}"\nbilling_cycle = "{cycle}"\n'
    return load_tariff(header + body)


def interval(start: datetime, end: datetime, energy: str) -> UsageInterval:
    """An interval of ``energy`` kWh."""
    return UsageInterval(start, end, kwh(energy))


FOUR_RATES = """
[[versions]]
id = "v1"
effective_from = 2025-01-01
prices = { sharp = 1.3512, peak = 1.1053, flat = 0.6632, valley = 0.2981 }
[versions.tou]
periods = [
    { start = "22:00", end = "08:00", rate = "valley" },
    { start = "08:00", end = "10:00", rate = "flat" },
    { start = "10:00", end = "12:00", rate = "peak" },
    { start = "12:00", end = "14:00", rate = "sharp" },
    { start = "14:00", end = "17:00", rate = "flat" },
    { start = "17:00", end = "20:00", rate = "sharp" },
    { start = "20:00", end = "22:00", rate = "peak" },
]
"""
