"""Pure pieces of the collector, table-driven: breaker, events, verdicts, shards, intervals."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pems.collector.breaker import Breaker
from pems.collector.commands import CommandTask, Verdict, judge
from pems.collector.config import CollectorConfig
from pems.collector.plan import ShardError, parse_shard
from pems.collector.readings import Snapshot, derive_events, interval_start
from pems.collector.sql import _fixed
from pems.devices.records import Energy, ForcedMode, MeterState
from pems.devices.totals import total_wrap

BASE = Snapshot(Decimal("100.00"), 3, True, (False, False, False), 5, False)


def test_a_breaker_backs_off_exponentially_up_to_its_cap() -> None:
    breaker = Breaker(base=2.0, cap=10.0)
    delays = [breaker.failure(now=0.0) for _ in range(5)]
    assert delays == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert not breaker.allow(9.9)
    assert breaker.allow(10.0)
    breaker.success()
    assert breaker.allow(0.0)
    assert breaker.failures == 0


@pytest.mark.parametrize(
    ("change", "kinds"),
    [
        ({}, []),
        ({"relay_closed": False}, ["relay_changed"]),
        ({"alarms": (True, False, False)}, ["alarms_changed"]),
        ({"energy_total": Decimal("99.99")}, ["energy_backwards"]),
        ({"type_code": 7}, ["identity_changed"]),
        ({"purchase_count": 0}, ["identity_changed"]),
        ({"clock_skewed": True}, ["clock_drift"]),
        (
            {"relay_closed": False, "alarms": (True, True, True)},
            ["relay_changed", "alarms_changed"],
        ),
    ],
)
def test_events_follow_from_two_consecutive_readings(change: dict, kinds: list[str]) -> None:
    new = dataclasses.replace(BASE, **change)
    assert [e.kind for e in derive_events(BASE, new, timedelta(0))] == kinds


@pytest.mark.parametrize(
    ("model", "high", "low"),
    [
        ("DDSY1352-NK", "42949000.00", "12.00"),  # u32 in 0.01 kWh
        ("DLT645-GENERIC", "999990.00", "3.00"),  # BCD XXXXXX.XX kWh
    ],
)
def test_a_register_wrapping_round_is_a_rollover_not_a_loss(model, high, low) -> None:
    wrap = total_wrap(model)
    before = dataclasses.replace(BASE, energy_total=Decimal(high), wrap=wrap)
    after = dataclasses.replace(BASE, energy_total=Decimal(low), wrap=wrap)
    assert [e.kind for e in derive_events(before, after, timedelta(0))] == ["energy_rollover"]
    assert derive_events(None, after, timedelta(0)) == []
    # Far from the top of the register, the same fall is not a wrap.
    middle = dataclasses.replace(before, energy_total=wrap / 2)
    assert [e.kind for e in derive_events(middle, after, timedelta(0))] == ["energy_backwards"]


def _state(
    count: int | None = 4, relay: bool | None = True, credit: Decimal | None = Decimal(1)
) -> MeterState:
    return MeterState(
        "DTSY1352-NK", 5, "kWh", Energy(Decimal(1)), credit, count, relay,
        None, False, False, False, False, (), None, None, None,
    )  # fmt: skip


def _task(kind: str, count: int | None = None) -> CommandTask:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return CommandTask(1, "id", 1, 1, kind, {}, count, "sent", 1, now)


def _clear(credit: str | None, *, relay: bool, verdict: Verdict) -> tuple[object, ...]:
    """A credit clear is applied when the meter shows 0 with its relay open."""
    state = _state(relay=relay, credit=None if credit is None else Decimal(credit))
    return ("clear_credit", None, state, None, verdict)


@pytest.mark.parametrize(
    ("kind", "count", "state", "forced", "verdict"),
    [
        ("push_credit", 5, _state(5), None, Verdict.APPLIED),
        ("push_credit", 5, _state(6), None, Verdict.APPLIED),
        ("push_credit", 5, _state(4), None, Verdict.NOT_APPLIED),
        ("push_credit", 5, _state(2), None, Verdict.IMPOSSIBLE),
        ("push_credit", 5, _state(None), None, Verdict.IMPOSSIBLE),
        ("trip", None, _state(relay=False), ForcedMode.FORCED_TRIP, Verdict.APPLIED),
        ("trip", None, _state(relay=True), ForcedMode.PREPAID, Verdict.NOT_APPLIED),
        ("keep_power_on", None, _state(), ForcedMode.KEEP_POWER, Verdict.APPLIED),
        ("keep_power_on", None, _state(), ForcedMode.FORCED_TRIP, Verdict.NOT_APPLIED),
        ("close", None, _state(relay=False), ForcedMode.PREPAID, Verdict.APPLIED),
        ("close", None, _state(relay=True), None, Verdict.APPLIED),
        ("close", None, _state(relay=False), None, Verdict.NOT_APPLIED),
        ("resume_prepaid", None, _state(), ForcedMode.KEEP_POWER, Verdict.NOT_APPLIED),
        _clear("0.00", relay=False, verdict=Verdict.APPLIED),
        _clear("0.01", relay=False, verdict=Verdict.NOT_APPLIED),
        _clear("-3.00", relay=False, verdict=Verdict.NOT_APPLIED),
        _clear("0.00", relay=True, verdict=Verdict.NOT_APPLIED),
        _clear(None, relay=False, verdict=Verdict.NOT_APPLIED),
    ],
)
def test_read_back_verdicts(
    kind: str, count: int | None, state: MeterState, forced: ForcedMode | None, verdict: Verdict
) -> None:
    assert judge(_task(kind, count), state, forced, acked=False) is verdict


@pytest.mark.parametrize(("text", "shard"), [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 3 ", (3, 3))])
def test_shards_parse(text: str, shard: tuple[int, int]) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", ""])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ShardError):
        parse_shard(text)


@pytest.mark.parametrize(
    "overrides", [{"timeout": 0}, {"interval": timedelta(minutes=7)}, {"shard": (3, 2)}]
)
def test_bad_settings_are_refused(overrides: dict) -> None:
    with pytest.raises(ValueError, match=r"timeout|interval|shard"):
        CollectorConfig(**overrides)


@given(st.datetimes(timezones=st.just(UTC)), st.sampled_from([1, 5, 15, 30, 60]))
def test_an_interval_contains_its_moment_and_is_aligned(moment: datetime, minutes: int) -> None:
    length = timedelta(minutes=minutes)
    start = interval_start(moment, length)
    assert start <= moment < start + length
    assert (start - start.replace(hour=0, minute=0, second=0, microsecond=0)) % length == timedelta(
        0
    )


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=3))
def test_exact_columns_store_integer_units(value: Decimal) -> None:
    assert Decimal(_fixed(3)(value)).scaleb(-3) == value  # type: ignore[arg-type]


def test_exact_columns_refuse_extra_places_and_floats() -> None:
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        _fixed(2)(Decimal("1.005"))
    with pytest.raises(TypeError):
        _fixed(2)(1.5)
    assert _fixed(2)(Decimal("2.67E+2")) == 26700
