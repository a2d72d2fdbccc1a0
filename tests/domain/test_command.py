"""`pems tariff price` end to end, as a user runs it from a fresh clone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

#: The example files shipped in the package (a source checkout's path).
EX = "src/pems/examples/tariffs"

ROOT = Path(__file__).parents[2]
PEMS = Path(sys.executable).parent / "pems"


def run(*args: str, language: str = "en") -> subprocess.CompletedProcess[str]:
    """The command in ``language`` (problems are listed in PEMS_LANGUAGE)."""
    return subprocess.run(
        [str(PEMS), "tariff", "price", *args],
        cwd=ROOT,
        env={**os.environ, "PEMS_LANGUAGE": language},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refuse_float(text: str) -> Decimal:
    raise AssertionError(f"JSON carried a float: {text}")


def test_table_output_for_the_documented_example() -> None:
    done = run(f"{EX}/tou.toml", f"{EX}/usage-totals.csv")
    assert done.returncode == 0, done.stderr
    for heading in ("Energy", "Per version", "Per rate", "Per tier", "Totals"):
        assert f"\n{heading}\n" in done.stdout
    assert "total" in done.stdout


@pytest.mark.parametrize(
    ("tariff", "usage"),
    [
        ("tiered.toml", "usage-totals.csv"),
        ("versioned.toml", "usage-intervals.csv"),
        ("flat.toml", "usage-intervals.csv"),
        ("tou.toml", "usage-intervals.csv"),
    ],
)
def test_json_output_adds_up_and_has_no_floats(tariff: str, usage: str) -> None:
    done = run(f"{EX}/{tariff}", f"{EX}/{usage}", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout, parse_float=refuse_float)
    lines = [Decimal(line["amount"]) for line in data["energy_lines"] + data["fixed_lines"]]
    assert sum(lines) == Decimal(data["total"])
    assert data["currency"] == "CNY"


def test_versioned_example_shows_both_versions() -> None:
    done = run(
        f"{EX}/versioned.toml",
        f"{EX}/usage-intervals.csv",
        "--json",
    )
    data = json.loads(done.stdout, parse_float=refuse_float)
    assert [row["key"] for row in data["by_version"]] == ["2025-01", "2025-08-15"]


def test_errors_are_reported_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ntimezone = "Asia/Shanghai"\n[[versions]]\nid = "a"\n', "utf-8")
    done = run(str(bad), f"{EX}/usage-totals.csv")
    assert done.returncode != 0
    assert "versions[0].effective_from: required field is missing" in done.stderr
    assert "Traceback" not in done.stderr
    done = run(
        f"{EX}/tou.toml",
        f"{EX}/usage-totals.csv",
        "--currency",
        "USD",
    )
    assert done.returncode != 0
    assert "priced in CNY, not USD" in done.stderr
    done = run(f"{EX}/missing.toml", f"{EX}/usage-totals.csv")
    assert done.returncode != 0
    assert f"cannot read {EX}/missing.toml" in done.stderr


def test_cycle_used_continues_the_tiers() -> None:
    # 200 kWh already billed in September: every September kWh is in tier 3.
    done = run(
        f"{EX}/tiered.toml",
        f"{EX}/usage-totals.csv",
        "--json",
        "--cycle-used",
        "200",
    )
    data = json.loads(done.stdout, parse_float=refuse_float)
    september = {line["tier"] for line in data["energy_lines"] if line["cycle"] == "2025-09-01"}
    assert september == {3}
    done = run(
        f"{EX}/tiered.toml",
        f"{EX}/usage-totals.csv",
        "--cycle-used",
        "1.5e",
    )
    assert done.returncode != 0
    assert "--cycle-used" in done.stderr


BAD_TARIFF = """name = "x"
timezone = "Asia/Shanghai"
currency = "XYZ"
[[versions]]
id = "a"
effective_from = 2025-01-01
prices = { flat = -0.5 }
"""


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "zh-hans",
            [
                "CommandError: bad.toml：共 3 个问题：",
                "  currency：未知货币“XYZ”",
                "  versions[0].prices.flat：-0.5 低于最小值 0",
                "  versions[0].tiers：阶梯表至少需要一个阶梯",
            ],
        ),
        (
            "en",
            [
                "CommandError: bad.toml: 3 problem(s):",
                "  currency: unknown currency 'XYZ'",
                "  versions[0].prices.flat: -0.5 is below the minimum 0",
                "  versions[0].tiers: a tier table needs at least one tier",
            ],
        ),
    ],
)
def test_problems_are_listed_in_pems_language(tmp_path: Path, language: str, expected: list[str]):
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_TARIFF + "tiers = []\n", "utf-8")
    done = subprocess.run(
        [str(PEMS), "tariff", "price", "bad.toml", str(ROOT / EX / "usage-totals.csv")],
        cwd=tmp_path,
        env={**os.environ, "PEMS_LANGUAGE": language},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == expected


def test_a_usage_files_problems_follow_pems_language_too(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text("timestamp,total_kwh\n2025-01-01T00:00Z,5\n2025-01-01T01:00Z,4\n", "utf-8")
    done = run(f"{EX}/tou.toml", str(usage), language="zh-hans")
    assert done.returncode == 1
    assert "第 3 行，total_kwh 列：从 5 降到了 4（电表计数翻转还是换表？）" in done.stderr


def test_the_bill_follows_pems_language_and_its_columns_line_up() -> None:
    english = run(f"{EX}/tiered.toml", f"{EX}/usage-totals.csv", "--cycle-used", "120")
    chinese = run(
        f"{EX}/tiered.toml", f"{EX}/usage-totals.csv", "--cycle-used", "120", language="zh-hans"
    )
    assert english.returncode == chinese.returncode == 0, chinese.stderr
    for heading in ("\n电量计费\n", "\n按费率\n", "\n按阶梯\n", "\n固定费用\n", "\n合计\n"):
        assert heading in chinese.stdout
    assert "计费周期自 2025-10-01 起已用 59.76 kWh" in chinese.stdout
    assert " management fee  monthly " in english.stdout  # the per column: daily / monthly
    # The same figures in the same places: wide characters count two columns.
    for text in (english.stdout, chinese.stdout):
        lines = text.splitlines()
        rule = next(n for n, line in enumerate(lines) if set(line.strip()) == {"-"})
        width = lambda s: sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in s)  # noqa: E731
        assert {width(line) for line in lines[rule - 1 : rule + 1]} == {width(lines[rule])}
    amounts = [line.split()[-1] for line in english.stdout.splitlines() if line[-3:-2] == "."]
    assert amounts == [
        line.split()[-1] for line in chinese.stdout.splitlines() if line[-3:-2] == "."
    ]
