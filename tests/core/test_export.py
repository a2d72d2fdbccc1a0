"""Excel export: the file a manager opens, read back with openpyxl and as raw sheet XML."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from openpyxl import load_workbook

from pems.core.export import XLSX_CONTENT_TYPE, Column, xlsx_response
from pems.domain.money import Money

READ_AT = dt.datetime(2026, 3, 1, 2, 30, tzinfo=dt.UTC)  # 10:30 in Shanghai


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode()


def rows_of(data: bytes) -> list[tuple]:
    workbook = load_workbook(io.BytesIO(data))
    return list(workbook.worksheets[0].iter_rows(values_only=True))


COLUMNS = [Column(_("meter number")), Column(_("balance")), Column(_("read at")), "note"]
ROWS = [
    ("240100001005", Money(Decimal("12345678.91"), "CNY"), READ_AT, "=SUM(A1:A9)"),
    ("240100001006", Decimal("-0.05"), None, "arrears"),
    ("240100001007", Decimal("1234.567"), dt.date(2026, 3, 1), 7),
]


def test_an_export_is_an_excel_attachment_with_the_header_in_the_active_language():
    with translation.override("zh-hans"):
        response = xlsx_response("余额 balances.xlsx", COLUMNS, ROWS, time_zone="Asia/Shanghai")
        data = body(response)

    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=utf-8''%E4%BD%99%E9%A2%9D%20balances.xlsx" in disposition
    header = rows_of(data)[0]
    assert header == ("表号", "余额", "抄读时间", "note")


def test_decimals_are_exact_number_cells_with_their_own_places():
    data = body(xlsx_response("x.xlsx", COLUMNS, ROWS, time_zone="Asia/Shanghai"))

    xml = sheet_xml(data)
    # The stored digits are the Decimal's, not a float's approximation.
    assert re.search(r'<c r="B2"[^>]*t="n"[^>]*><v>12345678.91</v>', xml)
    assert re.search(r'<c r="B3"[^>]*t="n"[^>]*><v>-0.05</v>', xml)
    assert re.search(r'<c r="B4"[^>]*t="n"[^>]*><v>1234.567</v>', xml)
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["B2"].number_format == "#,##0.00"
    assert sheet["B4"].number_format == "#,##0.000"
    assert sheet["B3"].value == pytest.approx(-0.05)
    assert sheet["A2"].value == "240100001005"  # an identifier stays text: zeros survive
    assert sheet["D4"].value == 7


def test_datetimes_are_shown_in_the_site_time_zone_and_dates_as_dates():
    data = body(xlsx_response("x.xlsx", COLUMNS, ROWS, time_zone="Asia/Shanghai"))

    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["C2"].value == dt.datetime(2026, 3, 1, 10, 30)
    assert sheet["C2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet["C3"].value is None
    assert sheet["C4"].value == dt.datetime(2026, 3, 1)
    assert sheet["C4"].number_format == "yyyy-mm-dd"
    london = body(xlsx_response("x.xlsx", COLUMNS, ROWS, time_zone="Europe/London"))
    assert load_workbook(io.BytesIO(london)).worksheets[0]["C2"].value == dt.datetime(
        2026, 3, 1, 2, 30
    )


def test_text_that_looks_like_a_formula_stays_text():
    data = body(xlsx_response("x.xlsx", COLUMNS, ROWS))

    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["D2"].value == "=SUM(A1:A9)"
    assert sheet["D2"].data_type == "s"
    assert "<f>" not in sheet_xml(data)


def test_a_column_number_format_wins_over_the_values_own_places():
    columns = [Column("kWh", number_format="0.0")]
    data = body(xlsx_response("x.xlsx", columns, [(Decimal("1.25"),), (3,)]))

    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["A2"].number_format == sheet["A3"].number_format == "0.0"
    assert re.search(r'<c r="A2"[^>]*><v>1.25</v>', sheet_xml(data))


def test_floats_and_ragged_rows_are_refused():
    with pytest.raises(TypeError, match=r"float 0\.1 refused"):
        xlsx_response("x.xlsx", ["amount"], [(0.1,)])
    with pytest.raises(ValueError, match="row 3 has 2 cells for 1 columns"):
        xlsx_response("x.xlsx", ["amount"], [(1,), (1, 2)])


def test_a_large_export_streams_every_row():
    rows = ((f"{n:012d}", Decimal(n).scaleb(-2)) for n in range(20_000))
    data = body(xlsx_response("big.xlsx", ["number", "amount"], rows))

    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    last = list(sheet.iter_rows(min_row=20_001, max_row=20_001, values_only=True))
    assert last == [("000000019999", pytest.approx(199.99))]
