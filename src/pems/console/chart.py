"""The 30-day usage chart as SVG geometry, computed on the server (no chart library, no JS).

Daily usage is the difference of consecutive daily freezes (the first good
reading of each local day); today's bar runs to the latest reading. A day
without both ends, or across a meter exchange (the total went down), has no bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

WIDTH = 600
HEIGHT = 160
AXIS = 20  # room under the bars for day labels
_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Bar:
    day: date
    usage: Decimal | None
    x: Decimal
    y: Decimal
    width: Decimal
    height: Decimal
    label: bool  # print the day under this bar


@dataclass(frozen=True)
class UsageChart:
    bars: list[Bar]
    peak: Decimal
    total: Decimal
    width: int = WIDTH
    height: int = HEIGHT
    axis: int = AXIS

    @property
    def base_y(self) -> int:
        return self.height - self.axis

    @property
    def label_y(self) -> int:
        return self.height - 6

    @property
    def empty(self) -> bool:
        return all(bar.usage is None for bar in self.bars)


def daily_usage(
    totals: Mapping[date, Decimal], days: list[date], latest: Decimal | None
) -> dict[date, Decimal | None]:
    """Each day's usage from the first total of that day and of the next (or ``latest``).

    A day's first total below an earlier one that a later one comes back above is a
    misread (a meter answering zeros) and left out, so it draws no absurd bar; a total
    that stays lower (a meter exchange) is kept and counts from there.
    """
    totals = _misreads_dropped(totals, latest)
    usage: dict[date, Decimal | None] = {}
    for index, day in enumerate(days):
        start = totals.get(day)
        end = totals.get(day + timedelta(days=1)) if index + 1 < len(days) else latest
        usage[day] = end - start if start is not None and end is not None and end >= start else None
    return usage


def _misreads_dropped(
    totals: Mapping[date, Decimal], latest: Decimal | None
) -> dict[date, Decimal]:
    days = sorted(totals)
    later = [totals[day] for day in days] + ([latest] if latest is not None else [])
    kept: dict[date, Decimal] = {}
    top: Decimal | None = None
    for index, day in enumerate(days):
        total = totals[day]
        if top is not None and total < top and any(v >= top for v in later[index + 1 :]):
            continue
        kept[day] = top = total
    return kept


def _nice_ceiling(value: Decimal) -> Decimal:
    """The axis top: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (1, 2, 5, 10):
        top = Decimal(step).scaleb(exponent)
        if top >= value:
            return top
    return Decimal(10).scaleb(exponent)  # pragma: no cover — the loop always returns


def usage_chart(usage: Mapping[date, Decimal | None]) -> UsageChart:
    days = sorted(usage)
    known = [u for u in usage.values() if u is not None]
    peak = _nice_ceiling(max(known, default=Decimal(0)))
    slot = Decimal(WIDTH) / max(len(days), 1)
    plot = Decimal(HEIGHT - AXIS)
    bars = []
    for index, day in enumerate(days):
        value = usage[day]
        height = (plot * value / peak).quantize(_TENTH, ROUND_HALF_UP) if value else Decimal(0)
        bars.append(
            Bar(
                day=day,
                usage=value,
                x=(slot * index + slot / 10).quantize(_TENTH),
                y=plot - height,
                width=(slot * 8 / 10).quantize(_TENTH),
                height=height,
                label=index % 5 == 0 or index == len(days) - 1,
            )
        )
    return UsageChart(bars=bars, peak=peak, total=sum(known, Decimal(0)))
