"""A meter's totals made continuous for pricing: misreads passed over, register wraps unrolled.

Pricing takes readings whose total never falls (``pricing.intervals_from_readings``).
When a stored total does fall below the last one kept, it is one of three things:

* **a misread** — a meter answering zeros while it powers up, a garbled register:
  a later reading is back at or above the last kept total. The readings in
  between are passed over and that reading carries the usage, so nothing is
  lost or charged twice;
* **the register wrapping** past its largest value back to zero: no reading came
  back within :data:`MISREAD_WINDOW`, the total fell from above :data:`WRAP_SHARE`
  of the register's range to below the rest of it, and the use this implies is
  no faster than :data:`WRAP_RATE_MARGIN` times the point's fastest use of the
  week before or since (a meter reset near the top of its range would otherwise be
  charged as a huge use). Totals after it are counted on from the wrap;
* **anything else** (a meter exchanged or reset): pricing stops before it until a
  person records what happened.

Until a fall is :data:`MISREAD_WINDOW` old the readings after it wait: the meter
may yet come back. A final total read off the register by a person (a meter
exchange) ends that wait: the register is where the person saw it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from pems.domain.pricing import MeterReading
from pems.domain.quantities import Quantity
from pems.domain.tou import Rate

#: How long the readings after a fall wait for the meter to come back.
MISREAD_WINDOW = timedelta(hours=6)
#: A wrap falls from above this share of the register's range to below the rest of it.
WRAP_SHARE = Decimal("0.9")
#: Across a wrap, at most this many times the point's fastest use of the week before or since.
WRAP_RATE_MARGIN = 3
#: How far back the fastest use a wrap is held to is looked for.
RATE_LOOKBACK = timedelta(days=7)

#: The point's fastest use (units an hour) in the :data:`RATE_LOOKBACK` before an instant,
#: None when nothing was used or read then.
FastestUse = Callable[[datetime], Decimal | None]


def falls(history: Sequence[MeterReading]) -> bool:
    """Whether any total or TOU register falls from one reading to the next (else the
    history is continuous as it is)."""
    for before, after in pairwise(history):
        if after.total < before.total:
            return True
        for rate, value in after.registers.items():
            if rate in before.registers and value < before.registers[rate]:
                return True
    return False


def is_wrap(before: Decimal, after: Decimal, wrap: Decimal) -> bool:
    """Whether a total falling from ``before`` to ``after`` can be a register of range
    ``wrap`` starting again from zero (by the values alone)."""
    return after < before < wrap and before >= wrap * WRAP_SHARE and after < wrap * (1 - WRAP_SHARE)


@dataclass(frozen=True)
class Fall:
    """Where a total fell and pricing stopped: the last reading kept, the first one below.

    ``lasting`` is False while the fall is younger than :data:`MISREAD_WINDOW`
    (the meter may yet come back); ``not_a_wrap`` then says why it was not taken
    for the register wrapping.
    """

    before: MeterReading
    after: MeterReading
    lasting: bool
    not_a_wrap: str = ""


@dataclass(frozen=True)
class Continuous:
    """The readings to price and where the cursor goes.

    ``readings`` start with the first one given; past a wrap their totals (and
    registers) are counted on from it. ``last`` is the last of them as the meter
    reported it. ``passed_over`` counts misreads skipped, ``wraps`` the wraps.
    """

    readings: list[MeterReading]
    last: MeterReading
    fall: Fall | None
    passed_over: int
    wraps: int


def continuous(
    history: Sequence[MeterReading],
    wrap: Decimal | None,
    fastest: FastestUse,
    witnessed_last: bool = False,
) -> Continuous:
    """``history`` (the cursor's reading first, then the newer ones in time order) made
    continuous. ``wrap`` is the register's range (None: unknown, no fall is a wrap).
    ``witnessed_last``: the last reading is a person's (an exchange's final total), so a
    fall it does not come back from is judged now, without waiting for the meter."""
    kept, last = [history[0]], history[0]
    offset, register_offsets = Decimal(0), dict[Rate, Decimal]()
    passed = wraps = 0
    index = 1
    while index < len(history):
        reported = history[index]
        turned = _registers_turned(last, reported, wrap, register_offsets)
        reading = _counted_on(reported, offset, register_offsets | turned)
        if reading.total.amount >= kept[-1].total.amount:
            register_offsets |= turned  # only once the reading is kept (not a misread)
            kept.append(reading)
            last = reported
            index += 1
            continue
        back = _back(history, index, kept[-1], offset, register_offsets)
        if back is not None:
            passed += back - index
            index = back
            continue
        if not witnessed_last and history[-1].at - reported.at < MISREAD_WINDOW:
            return Continuous(kept, last, Fall(last, reported, lasting=False), passed, wraps)
        if wrap is None:
            not_a_wrap: str | None = "the meter's register range is not known"
        else:
            not_a_wrap = _not_a_wrap(last, history[index:], wrap, fastest)
        if wrap is None or not_a_wrap is not None:
            fall = Fall(last, reported, True, not_a_wrap or "")
            return Continuous(kept, last, fall, passed, wraps)
        offset += wrap
        wraps += 1
    return Continuous(kept, last, None, passed, wraps)


def _registers_turned(
    before: MeterReading, after: MeterReading, wrap: Decimal | None, offsets: dict[Rate, Decimal]
) -> dict[Rate, Decimal]:
    """The new offsets of the TOU registers that wrapped between two readings as reported
    (each register is a counter of its own: it wraps at or after the total)."""
    if wrap is None:
        return {}
    return {
        rate: offsets.get(rate, Decimal(0)) + wrap
        for rate, value in after.registers.items()
        if rate in before.registers and is_wrap(before.registers[rate].amount, value.amount, wrap)
    }


def _counted_on(
    reading: MeterReading, offset: Decimal, register_offsets: dict[Rate, Decimal]
) -> MeterReading:
    if not offset and not register_offsets:
        return reading
    unit = reading.total.unit
    return replace(
        reading,
        total=Quantity(reading.total.amount + offset, unit),
        registers={
            rate: Quantity(value.amount + register_offsets.get(rate, Decimal(0)), unit)
            for rate, value in reading.registers.items()
        },
    )


def _back(
    history: Sequence[MeterReading],
    index: int,
    kept: MeterReading,
    offset: Decimal,
    register_offsets: dict[Rate, Decimal],
) -> int | None:
    """The first reading after ``index`` back at or above ``kept``, if any."""
    for later in range(index + 1, len(history)):
        if _counted_on(history[later], offset, register_offsets).total >= kept.total:
            return later
    return None


def _not_a_wrap(
    before: MeterReading, since: Sequence[MeterReading], wrap: Decimal, fastest: FastestUse
) -> str | None:
    """Why the lasting fall from ``before`` to ``since[0]`` (as reported) is not the register
    wrapping; None when it is. Its pace is held to the point's fastest use of the week
    before, or since the fall if faster (a meter idle until then has no pace before)."""
    after = since[0]
    unit = before.total.unit.value
    if not is_wrap(before.total.amount, after.total.amount, wrap):
        return f"not from near the top of its register (range {wrap} {unit}) to near zero"
    used = wrap - before.total.amount + after.total.amount
    hours = Decimal((after.at - before.at) // timedelta(seconds=1)) / 3600
    rate = max(fastest(before.at) or Decimal(0), fastest_pace(since))
    if not rate or used > WRAP_RATE_MARGIN * rate * hours:
        return (
            f"a wrap would mean {used} {unit} in {hours:.2f} h, more than {WRAP_RATE_MARGIN}x"
            f" the point's fastest use in the {RATE_LOOKBACK.days} days before or since"
            f" ({rate} {unit}/h)"
        )
    return None


def fastest_pace(readings: Sequence[MeterReading]) -> Decimal:
    """The fastest use (units an hour) between readings in time order, 0 if none.

    Only readings at or above every one before them count: coming back from a
    misread (zero, then the true total) is not use.
    """
    fastest, top = Decimal(0), None
    for reading in readings:
        if top is not None and reading.total < top.total:
            continue
        if top is not None and reading.total > top.total and reading.at > top.at:
            used = (reading.total - top.total).amount
            fastest = max(fastest, used * 3600 / ((reading.at - top.at) // timedelta(seconds=1)))
        top = reading
    return fastest
