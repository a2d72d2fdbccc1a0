"""Sheet validation: every problem reported with its row and column; nothing half-loaded."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from pems.siteplan import COLUMNS, SheetError, mixed, plaza, read_csv, read_sheet
from pems.siteplan.sheet import plan_rows

Rows = list[dict[str, str]]


def rows_of(plan_name: str) -> Rows:
    return list(plan_rows(plaza() if plan_name == "plaza" else mixed()))


def csv_text(rows: Rows, columns: tuple[str, ...] | list[str] = COLUMNS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def problems(rows: Rows, columns: tuple[str, ...] | list[str] = COLUMNS) -> list[str]:
    with pytest.raises(SheetError) as rejected:
        read_csv(io.StringIO(csv_text(rows, columns)))
    return [str(issue) for issue in rejected.value.issues]


def find_row(rows: Rows, gateway: str, address: str) -> int:
    """Index into ``rows`` of a meter; its sheet row number is index + 2."""
    return next(
        i for i, r in enumerate(rows) if r["gateway"] == gateway and r["meter_address"] == address
    )


# (plan, gateway, address, column, bad value, expected message)
CELL_CASES = [
    ("plaza", "GW-S1", "13", "meter_address", "300", "column meter_address: 300 is outside 1–247"),
    (
        "plaza",
        "GW-S1",
        "2",
        "meter_address",
        "x1",
        "column meter_address: 'x1' is not a whole number",
    ),
    ("plaza", "GW-S1", "2", "model", "DTSY666", "column model: 'DTSY666' is not one of"),
    (
        "plaza",
        "GW-S1",
        "2",
        "gateway_protocol",
        "bacnet",
        "column gateway_protocol: 'bacnet' is not one of",
    ),
    ("plaza", "GW-S1", "2", "baud", "9601", "column baud: 9601 is not a standard rate"),
    ("plaza", "GW-S1", "2", "parity", "X", "column parity: 'X' is not one of"),
    ("plaza", "GW-S1", "2", "area", "", "column area: is required"),
    ("plaza", "GW-S1", "2", "area_kind", "roof", "column area_kind: 'roof' is not one of"),
    (
        "plaza",
        "GW-S1",
        "2",
        "price_flat",
        "0.12345",
        "column price_flat: 0.12345 has more than 4 decimal places",
    ),
    (
        "plaza",
        "GW-S1",
        "2",
        "initial_credit",
        "-5",
        "column initial_credit: -5 must be between 0 and",
    ),
    (
        "plaza",
        "GW-S1",
        "2",
        "initial_credit",
        "lots",
        "column initial_credit: 'lots' is not a number",
    ),
    (
        "plaza",
        "GW-S1",
        "2",
        "alarm2_threshold",
        "60",
        "column alarm2_threshold: 60.00 is above alarm1_threshold",
    ),
    (
        "plaza",
        "GW-S1",
        "2",
        "meter_number",
        "12345678901234",
        "column meter_number: '12345678901234' must be",
    ),
    ("plaza", "GW-S1", "2", "box", "B-1", "column box: is only for ADF300 circuits"),
    (
        "plaza",
        "GW-S1",
        "2",
        "hoarding_limit",
        "10",
        "column hoarding_limit: 10.00 is below initial_credit",
    ),
    ("plaza", "GW-S1", "2", "ct_ratio", "0", "column ct_ratio: 0 is outside 1–9999"),
    ("plaza", "GW-S1", "2", "fee_control", "both", "column fee_control: 'both' is not one of"),
    (
        "mixed",
        "GW-A",
        "21",
        "fee_control",
        "meter-side",
        "column fee_control: WATER-VALVE cannot hold credit",
    ),
    (
        "mixed",
        "GW-A",
        "2",
        "model",
        "DLT645-GENERIC",
        "column model: DLT645-GENERIC cannot be on a modbus",
    ),
    (
        "mixed",
        "GW-D",
        "123456781012",
        "meter_address",
        "12345678901X",
        "must be a DL/T 645 address",
    ),
    ("mixed", "GW-D", "123456781012", "meter_number", "123456781099", "must equal meter_address"),
    (
        "mixed",
        "GW-D",
        "123456781012",
        "model",
        "DTSY1352-NK",
        "DTSY1352-NK cannot be on a dlt645-over-tcp",
    ),
    ("mixed", "GW-B", "3", "phases", "2", "column phases: must be 1 or 3"),
    ("mixed", "GW-B", "3", "circuit", "", "column circuit: is required"),
]


@pytest.mark.parametrize(("plan", "gateway", "address", "column", "value", "message"), CELL_CASES)
def test_bad_cell_is_reported_with_row_and_column(
    plan: str, gateway: str, address: str, column: str, value: str, message: str
) -> None:
    rows = rows_of(plan)
    index = find_row(rows, gateway, address)
    rows[index][column] = value
    found = problems(rows)
    assert any(p.startswith(f"row {index + 2}, ") and message in p for p in found), found


def test_every_problem_is_collected_at_once() -> None:
    rows = rows_of("plaza")
    rows[12]["meter_address"] = "300"
    rows[40]["model"] = "nope"
    rows[41]["baud"] = "19200"
    rows[41]["gateway_port"] = rows[41]["gateway_port"]
    found = problems(rows)
    assert found[0].startswith("row 14, column meter_address: 300 is outside 1–247")
    assert any(p.startswith("row 42, column model:") for p in found)
    assert any(
        p.startswith("row 43, column baud: 19200 differs from 9600 on row 29") for p in found
    )
    assert len(found) == 3


def test_duplicate_address_on_a_gateway_names_the_first_row() -> None:
    rows = rows_of("plaza")
    rows[5]["meter_address"] = rows[2]["meter_address"]
    assert (
        "row 7, column meter_address: address 3 is already used on gateway 'GW-S1' by row 4"
        in problems(rows)
    )


def test_same_address_on_different_gateways_is_fine() -> None:
    plan = read_csv(io.StringIO(csv_text(rows_of("plaza"))))
    assert plan.gateways[0].meters[0].address == plan.gateways[1].meters[0].address == 1


def test_two_gateways_on_one_endpoint_are_rejected() -> None:
    rows = rows_of("plaza")
    for row in rows:
        if row["gateway"] == "GW-S2":
            row["gateway_port"] = "15020"
    assert any("127.0.0.1:15020 is already gateway 'GW-S1' (row 2)" in p for p in problems(rows))


def test_duplicate_meter_number_and_second_site_are_rejected() -> None:
    rows = rows_of("plaza")
    rows[9]["meter_number"] = rows[1]["meter_number"]
    rows[10]["site"] = "Other plaza"
    found = problems(rows)
    assert "row 11, column meter_number: 240100001002 is already used by row 3" in found
    assert any(
        p.startswith("row 12, column site: 'Other plaza' differs from 'Plaza'") for p in found
    )


def test_circuit_gap_and_address_jump_in_an_adf300_box() -> None:
    rows = rows_of("mixed")
    gap = [r for r in rows if r["box"] == "ADF-1"]
    gap[2]["circuit"] = "4"  # 1, 2, 4, 4 …
    found = problems(rows)
    assert any("box 'ADF-1' has circuit 4 where 3 was expected" in p for p in found), found
    rows = rows_of("mixed")
    jump = [r for r in rows if r["box"] == "ADF-2"]
    jump[1]["meter_address"] = "40"
    assert any("circuit 2 of box 'ADF-2' must be on address 14" in p for p in problems(rows))


@pytest.mark.parametrize(
    ("singles", "threes", "error"),
    [
        (36, 0, None),
        (37, 0, "row 38, column circuit: 37 is outside 1–36"),
        (0, 12, None),
        (0, 13, "column phases: box 'BIG' has 0 single-phase and 13 three-phase"),
        (6, 10, None),
        (7, 10, "column phases: box 'BIG' has 7 single-phase and 10 three-phase"),
    ],
)
def test_adf300_circuit_limits(singles: int, threes: int, error: str | None) -> None:
    template = rows_of("mixed")[find_row(rows_of("mixed"), "GW-B", "1")]
    rows = []
    for index in range(1, singles + threes + 1):
        row = dict(template)
        row.update(
            meter_address=str(index),
            meter_number=f"{900000000000 + index}",
            box="BIG",
            circuit=str(index),
            phases="3" if index <= threes else "1",
        )
        rows.append(row)
    if error is None:
        plan = read_csv(io.StringIO(csv_text(rows)))
        assert plan.meter_count == singles + threes
    else:
        assert any(error in p for p in problems(rows))


def test_header_must_name_every_column_once() -> None:
    rows = rows_of("plaza")[:2]
    columns = [c for c in COLUMNS if c != "room"] + ["notes"]
    found = problems(rows, columns)
    assert "row 1, column notes: is not a known column" in found
    assert "row 1, column room: is missing from the header" in found


def test_sheet_without_meters_is_rejected() -> None:
    assert problems([]) == ["sheet: the sheet has no metering points"]


def test_xlsx_errors_have_spreadsheet_rows(tmp_path: Path) -> None:
    rows = rows_of("plaza")
    rows[12]["meter_address"] = "300"
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row[c] for c in COLUMNS])
    sheet.append([])  # blank rows are ignored
    path = tmp_path / "bad.xlsx"
    workbook.save(path)
    with pytest.raises(SheetError) as rejected:
        read_sheet(path)
    assert [str(i) for i in rejected.value.issues] == [
        "row 14, column meter_address: 300 is outside 1–247"
    ]


def test_unreadable_files_are_sheet_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a zip")
    with pytest.raises(SheetError, match=r"junk\.xlsx is not a readable \.xlsx file"):
        read_sheet(junk)
    with pytest.raises(SheetError, match=r"use a \.csv or \.xlsx file"):
        read_sheet(tmp_path / "plan.ods")
