"""Tariff TOML and usage CSV parsing: every example loads, every mistake is located."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pems.domain.errors import TariffFileError, UsageFileError
from pems.domain.tariff_file import load_tariff
from pems.domain.tou import Rate
from pems.domain.usage_file import UsageKind, load_usage

EXAMPLES = Path(__file__).parents[2] / "src" / "pems" / "examples" / "tariffs"


@pytest.mark.parametrize("name", ["flat.toml", "tou.toml", "tiered.toml", "versioned.toml"])
def test_every_example_tariff_loads(name: str) -> None:
    tariff = load_tariff((EXAMPLES / name).read_text(encoding="utf-8"), name)
    assert tariff.currency == "CNY"
    assert all(isinstance(p, Decimal) for v in tariff.versions for p in v.prices.values())


def test_example_tou_has_four_rates_and_a_summer_season() -> None:
    tou = load_tariff((EXAMPLES / "tou.toml").read_text(encoding="utf-8"))
    plan = tou.versions[0].tou
    assert plan is not None
    assert plan.rates == frozenset(Rate)
    assert [s.name for s in plan.seasons] == ["summer"]
    assert tou.versions[0].prices[Rate.PEAK] == Decimal("1.1053")  # parsed exactly, no float


GOOD_VERSION = """
[[versions]]
id = "a"
effective_from = 2025-01-01
prices = { flat = 0.5, valley = 0.2 }
[versions.tou]
periods = [
    { start = "00:00", end = "08:00", rate = "valley" },
    { start = "08:00", end = "24:00", rate = "flat" },
]
"""
HEADER = 'name = "t"\ntimezone = "Asia/Shanghai"\n'


def problems(text: str) -> list[str]:
    with pytest.raises(TariffFileError) as error:
        load_tariff(text, "t.toml")
    return [str(p) for p in error.value.problems]


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        (
            '"08:00", end = "24:00"',
            '"25:00", end = "24:00"',
            "versions[1].tou.periods[1].start: 25:00 is not a time (HH:MM)",
        ),
        (
            'rate = "flat"',
            'rate = "cheap"',
            "versions[1].tou.periods[1].rate: str 'cheap' is not one of sharp, peak, flat, valley",
        ),
        ("flat = 0.5,", "flat = -0.5,", "versions[1].prices.flat: -0.5 is below the minimum 0"),
        ("flat = 0.5,", "", "versions[1]: no price for rate(s) flat"),
        (
            "effective_from = 2025-06-01",
            "effective_from = 2025-13-01",
            "not valid TOML",
        ),
        ('end = "08:00"', 'end = "09:00"', "versions[1].tou.periods: periods must cover 24 h"),
        ("prices =", "price =", "versions[1].price: unknown field"),
    ],
)
def test_mistakes_name_the_field_path(replace: str, by: str, expected: str) -> None:
    second = GOOD_VERSION.replace('id = "a"', 'id = "b"').replace("2025-01-01", "2025-06-01")
    assert replace in second
    found = problems(HEADER + GOOD_VERSION + second.replace(replace, by, 1))
    assert any(expected in p for p in found), found


def test_all_problems_are_reported_at_once() -> None:
    text = 'name = "t"\ntimezone = "Mars/Olympus"\ncurrency = "XYZ"\n' + GOOD_VERSION.replace(
        "2025-01-01", '"someday"'
    ).replace('"08:00", end = "24:00"', '"8 am", end = "24:00"')
    assert problems(text) == [
        "currency: unknown currency 'XYZ'",
        "timezone: 'Mars/Olympus' is not an IANA time zone",
        "versions[0].effective_from: someday is not a date (YYYY-MM-DD)",
        "versions[0].tou.periods[1].start: 8 am is not a time (HH:MM)",
    ]


def test_versions_must_increase_and_seasons_must_not_overlap() -> None:
    found = problems(HEADER + GOOD_VERSION + GOOD_VERSION.replace('id = "a"', 'id = "b"'))
    assert found == ["versions: tariff 't': versions must be in increasing date order"]


def test_usage_totals_and_intervals_examples_load() -> None:
    totals = load_usage((EXAMPLES / "usage-totals.csv").read_text(encoding="utf-8"))
    assert totals.kind is UsageKind.TOTALS
    assert len(totals.intervals) == len(totals.readings) - 1
    assert set(totals.intervals[0].registers) == set(Rate)
    intervals = load_usage((EXAMPLES / "usage-intervals.csv").read_text(encoding="utf-8"))
    assert intervals.kind is UsageKind.INTERVALS
    assert len(intervals.intervals) == 48


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("when,kwh\n", "row 1: header 'when,kwh'"),
        (
            "timestamp,total_kwh\n2025-01-01T00:00,1\n",
            "row 2, column timestamp: '2025-01-01T00:00' has no UTC offset",
        ),
        (
            "timestamp,total_kwh\n2025-01-01T00:00Z,abc\n",
            "row 2, column total_kwh: 'abc' is not a number",
        ),
        (
            "timestamp,total_kwh\n2025-01-01T00:00Z,5\n2025-01-01T01:00Z,4\n",
            "row 3, column total_kwh: fell from 5 to 4",
        ),
        (
            "timestamp,total_kwh\n2025-01-01T01:00Z,5\n2025-01-01T00:00Z,6\n",
            "row 3, column timestamp: not after",
        ),
        ("timestamp,total_kwh,peak\n2025-01-01T00:00Z,5\n", "row 2: expected 3 columns, got 2"),
        (
            "start,end,kwh\n2025-01-01T00:00Z,2025-01-01T00:00Z,1\n",
            "row 2, column end: must be after start",
        ),
        (
            "start,end,kwh\n# comment\n\n2025-01-01T00:00Z,2025-01-01T02:00Z,-1\n",
            "row 4, column kwh: -1 is negative",
        ),
        (
            "start,end,kwh\n2025-01-01T00:00Z,2025-01-01T02:00Z,1\n2025-01-01T01:00Z,2025-01-01T03:00Z,1\n",
            "row 3, column start: overlaps",
        ),
    ],
)
def test_bad_usage_rows_name_row_and_column(text: str, expected: str) -> None:
    with pytest.raises(UsageFileError) as error:
        load_usage(text, "u.csv")
    found = [str(p) for p in error.value.problems]
    assert any(expected in p for p in found), found


@given(st.text(max_size=300))
def test_usage_parser_never_crashes_on_garbage(text: str) -> None:
    with contextlib.suppress(UsageFileError):
        load_usage("timestamp,total_kwh\n" + text)


@given(st.text(max_size=300))
def test_tariff_parser_never_crashes_on_garbage(text: str) -> None:
    with contextlib.suppress(TariffFileError):
        load_tariff(text)


TOU_TEXT = (EXAMPLES / "tou.toml").read_text(encoding="utf-8")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(TOU_TEXT) - 1),
            st.sampled_from(
                [*'0123456789:-"[]{}=,. abcxyz\n', "true", "[]", "{}", '""', "-1", "99"]
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_tariff_files_fail_cleanly(edits: list[tuple[int, str]]) -> None:
    """Random edits of a real tariff either still load or give located problems, never a crash."""
    text = TOU_TEXT
    for position, replacement in edits:
        text = text[:position] + replacement + text[position + 1 :]
    found = ["loaded: ok"]
    try:
        load_tariff(text, "mutated.toml")
    except TariffFileError as error:
        found = [str(p) for p in error.problems]
    assert found
    assert all(": " in problem for problem in found)


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('[calendar]\nholidays = "2025-10-01"\n', "calendar.holidays: expected a list"),
        (
            '[calendar]\nholidays = ["2025-02-30"]\n',
            "calendar.holidays[0]: 2025-02-30 is not a date",
        ),
        (
            '[calendar]\nchinese_holidays = "yes"\n',
            "calendar.chinese_holidays: expected true or false",
        ),
        ('billing_cycle = "week"\n', "billing_cycle: str 'week' is not one of month, year"),
        ('unit = "litre"\n', "unit: 'litre' is not a unit"),
    ],
)
def test_top_level_mistakes(snippet: str, expected: str) -> None:
    found = problems(HEADER + snippet + GOOD_VERSION)
    assert any(expected in p for p in found), found


def test_day_type_names_must_exist() -> None:
    named = '[versions.tou.default]\nworkday = "normal"\nweekend = ["x"]\n'
    text = HEADER + GOOD_VERSION.replace(
        "[versions.tou]\nperiods", named + "[versions.tou.days.normal]\nperiods"
    )
    assert problems(text) == ["versions[0].tou.default.weekend: ['x'] is not a day in tou.days"]
