"""Plan → sheet → plan is the identity, for CSV and XLSX, built-in and random plans."""

from __future__ import annotations

import io
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from pems.siteplan import (
    AreaKind,
    FeeControl,
    Gateway,
    Location,
    MeterPoint,
    ModelCode,
    Prices,
    Protocol,
    SerialSettings,
    SitePlan,
    load_plan,
    mixed,
    plaza,
    read_csv,
    read_sheet,
    scale_plan,
    write_csv,
    write_sheet,
)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize(
    "plan", [plaza(), mixed(), scale_plan(3, 5)], ids=["plaza", "mixed", "scale"]
)
def test_builtin_plans_round_trip(tmp_path: Path, plan: SitePlan, suffix: str) -> None:
    path = tmp_path / f"site{suffix}"
    write_sheet(plan, path)
    assert read_sheet(path) == plan
    assert load_plan(str(path)) == plan


def test_xlsx_keeps_identifiers_as_text(tmp_path: Path) -> None:
    path = tmp_path / "mixed.xlsx"
    write_sheet(mixed(), path)
    sheet = load_workbook(path).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    first = dict(zip(header, sheet[2], strict=True))
    assert first["meter_number"].value == "240200000001"
    assert first["gateway_port"].value == 15020  # numbers stay numbers for Excel
    assert first["price_flat"].value == Decimal("0.7") or first["price_flat"].value == 0.7


def test_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    plan = plaza()
    first = plan.gateways[0]
    odd = replace(first.meters[0], location=replace(first.meters[0].location, room="=SUM(A1:A3)"))
    plan = replace(
        plan, gateways=(replace(first, meters=(odd, *first.meters[1:])), *plan.gateways[1:])
    )
    path = tmp_path / "odd.xlsx"
    write_sheet(plan, path)
    assert read_sheet(path) == plan


def test_installer_edits_in_excel_style_are_accepted() -> None:
    """Blank optional cells take documented defaults; words for parity; leading zeros restored."""
    text = io.StringIO()
    write_csv(plaza(), text)
    lines = text.getvalue().splitlines()
    header = lines[0].split(",")
    cells = dict(zip(header, lines[1].split(","), strict=True))
    cells.update(
        parity="none",
        price_sharp="",
        price_peak="",
        price_valley="",
        ct_ratio="",
        alarm1_threshold="",
        meter_number="1",
    )
    edited = "\n".join([lines[0], ",".join(cells[name] for name in header)])
    meter = read_csv(io.StringIO(edited)).gateways[0].meters[0]
    assert meter.prices == Prices.single(Decimal("0.7000"))
    assert (meter.ct_ratio, meter.alarm1, meter.meter_number) == (
        1,
        Decimal("50.00"),
        "000000000001",
    )


names = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)
money = st.decimals(min_value=0, max_value=99999, places=2, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=0, max_value=99, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def meters(draw: st.DrawFn, address: int, number: int) -> MeterPoint:
    alarm2 = draw(money)
    return MeterPoint(
        address=address,
        meter_number=f"{number:012d}",
        model=draw(st.sampled_from([ModelCode.DTSY1352_NK, ModelCode.DDSY1352_NK])),
        location=Location(draw(st.sampled_from(AreaKind)), draw(names), draw(names), draw(names)),
        fee_control=draw(st.sampled_from(FeeControl)),
        prices=Prices(draw(prices), draw(prices), draw(prices), draw(prices)),
        initial_credit=draw(money),
        alarm1=alarm2 + draw(money),
        alarm2=alarm2,
        overdraft_limit=draw(money),
        ct_ratio=draw(st.integers(1, 9999)),
        pt_ratio=draw(st.integers(1, 9999)),
    )


@st.composite
def plans(draw: st.DrawFn) -> SitePlan:
    addresses = draw(st.lists(st.integers(1, 247), min_size=1, max_size=5, unique=True))
    size = len(addresses)
    numbers = draw(st.lists(st.integers(0, 10**12 - 1), min_size=size, max_size=size, unique=True))
    points = [draw(meters(a, n)) for a, n in zip(addresses, numbers, strict=True)]
    serial = SerialSettings(draw(st.sampled_from([2400, 9600, 19200])))
    gateway = Gateway(
        draw(names),
        "127.0.0.1",
        draw(st.integers(1, 65535)),
        Protocol.MODBUS_RTU_OVER_TCP,
        serial,
        tuple(points),
    )
    return SitePlan(draw(names), (gateway,))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans())
def test_random_plans_round_trip_through_csv(plan: SitePlan) -> None:
    text = io.StringIO()
    write_csv(plan, text)
    assert read_csv(io.StringIO(text.getvalue())) == plan


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans())
def test_random_plans_round_trip_through_xlsx(
    tmp_path_factory: pytest.TempPathFactory, plan: SitePlan
) -> None:
    path = tmp_path_factory.mktemp("xlsx") / "plan.xlsx"
    write_sheet(plan, path)
    assert read_sheet(path) == plan
