"""Fixed charges and the service fee taken from top-ups.

Fixed charges are due per *local day*: each local day whose midnight falls in
the priced span [start, end) carries

* the full amount of every per-day charge, and
* 1/(days in that month) of every per-month charge (a whole month therefore
  carries exactly the monthly amount; a partial month is prorated by days),

under the version in force at that midnight. Because a day is counted only
where its midnight lies, pricing consecutive spans one after another charges
every day exactly once, whatever the span lengths. One line per (version,
charge, month) is rounded once with the named rule.
"""

from __future__ import annotations

import calendar as stdlib_calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from pems.domain.charges import FixedLine
from pems.domain.money import Money, round_money
from pems.domain.tariff import ChargePeriod, Tariff


@dataclass(frozen=True)
class TopUpSplit:
    """A top-up divided into the credit for energy and the service fee."""

    credited: Money
    fee: Money


def split_top_up(amount: Money, fee_ratio: Decimal) -> TopUpSplit:
    """Take ``fee_ratio`` of a top-up as service fee; the rest is credited.

    The fee is rounded once with the named rule and the credit is the
    remainder, so ``credited + fee == amount`` always.
    """
    if not isinstance(fee_ratio, Decimal) or not Decimal(0) <= fee_ratio < 1:
        raise ValueError(f"fee ratio must be a Decimal in [0, 1), got {fee_ratio!r}")
    if amount.amount < 0:
        raise ValueError(f"a top-up cannot be negative: {amount}")
    fee = round_money(amount.amount * fee_ratio, amount.currency)
    return TopUpSplit(credited=amount - fee, fee=fee)


def _midnight(day: date, tariff: Tariff) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tariff.zone)


def fixed_charges(tariff: Tariff, start: datetime, end: datetime) -> tuple[FixedLine, ...]:
    """Fixed charges for the local days whose midnight lies in [start, end)."""
    if not any(version.fixed for version in tariff.versions):
        return ()  # the usual tariff: no day to walk
    counts: dict[tuple[int, str, str], int] = {}
    charges: dict[tuple[int, str, str], tuple[Money, ChargePeriod, int]] = {}
    day = start.astimezone(tariff.zone).date()
    last = end.astimezone(tariff.zone).date()
    while day <= last:
        midnight = _midnight(day, tariff)
        if start <= midnight < end:
            index = tariff.version_index_at(midnight)
            month_days = stdlib_calendar.monthrange(day.year, day.month)[1]
            for charge in tariff.versions[index].fixed:
                key = (index, charge.name, f"{day:%Y-%m}")
                counts[key] = counts.get(key, 0) + 1
                charges[key] = (charge.amount, charge.per, month_days)
        day += timedelta(days=1)
    lines = []
    for key, days in counts.items():
        index, name, month = key
        amount, per, month_days = charges[key]
        exact = amount.amount * days
        if per is ChargePeriod.MONTH:
            exact = exact / month_days
        lines.append(
            FixedLine(
                version=tariff.versions[index].id,
                name=name,
                per=per,
                month=month,
                days=days,
                exact_amount=exact,
                amount=round_money(exact, tariff.currency),
            )
        )
    return tuple(lines)
