"""Every table exports to Excel: one call from a console view or an API endpoint.

::

    from pems.core.export import Column, xlsx_response

    columns = [Column(_("room")), Column(_("balance")), Column(_("read at"))]
    rows = ((p.room.name, balance, state.read_at) for p, balance, state in ...)
    return xlsx_response("balances.xlsx", columns, rows, time_zone=site.time_zone)

The header row is translated into the active language when the file is
written. Rows are streamed into openpyxl's write-only workbook (a temporary
file, so memory stays flat for 100,000 rows) and the response streams that
file. Cells keep their types: a ``Decimal`` (or ``Money``) is a number cell
holding its exact decimal digits, formatted with its own decimal places (or
the column's ``number_format``); an aware datetime is shown in the site's time
zone; text is always text, never a formula. Floats are refused, as everywhere
money and energy travel.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.http import FileResponse
from django.utils import timezone
from django.utils.functional import Promise
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from pems.domain.money import Money

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DATE_FORMAT = "yyyy-mm-dd"
_HEADER_FONT = Font(bold=True)


@dataclass(frozen=True)
class Column:
    """One exported column: its (translatable) title, and optionally a fixed number format."""

    title: str | Promise
    number_format: str | None = None
    width: int | None = None


def xlsx_response(
    filename: str,
    columns: Sequence[Column | str | Promise],
    rows: Iterable[Sequence[Any]],
    *,
    time_zone: str | dt.tzinfo | None = None,
    sheet_title: str = "export",
) -> FileResponse:
    """An attachment response streaming ``rows`` as an Excel workbook called ``filename``."""
    stream = tempfile.TemporaryFile()  # noqa: SIM115 — FileResponse closes it once sent
    try:
        write_xlsx(stream, columns, rows, time_zone=time_zone, sheet_title=sheet_title)
        stream.seek(0)
    except BaseException:
        stream.close()
        raise
    return FileResponse(
        stream, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE
    )


def write_xlsx(
    stream: IO[bytes],
    columns: Sequence[Column | str | Promise],
    rows: Iterable[Sequence[Any]],
    *,
    time_zone: str | dt.tzinfo | None = None,
    sheet_title: str = "export",
) -> None:
    """Write one worksheet: a bold, frozen header row, then ``rows`` cell by cell."""
    specs = [c if isinstance(c, Column) else Column(c) for c in columns]
    zone = _zone(time_zone)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title[:31])
    for index, spec in enumerate(specs, start=1):
        width = spec.width or max(10, len(str(spec.title)) + 4)
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_header(sheet, spec) for spec in specs])
    try:
        for number, row in enumerate(rows, start=2):
            if len(row) != len(specs):
                raise ValueError(f"row {number} has {len(row)} cells for {len(specs)} columns")
            sheet.append(
                [_cell(sheet, value, spec, zone) for value, spec in zip(row, specs, strict=True)]
            )
    except BaseException:
        sheet.close()  # finish the half-written sheet now, not when it is garbage-collected
        raise
    workbook.save(stream)


def _zone(time_zone: str | dt.tzinfo | None) -> dt.tzinfo:
    if time_zone is None:
        return timezone.get_current_timezone()
    return ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone


def _header(sheet: WriteOnlyWorksheet, spec: Column) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=str(spec.title))
    cell.data_type = "s"
    cell.font = _HEADER_FONT
    return cell


def _cell(sheet: WriteOnlyWorksheet, value: Any, spec: Column, zone: dt.tzinfo) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and not spec.number_format:
        return value
    if isinstance(value, float):
        raise TypeError(f"float {value!r} refused: export a Decimal (money and energy are exact)")
    if isinstance(value, Money):
        value = value.amount
    if isinstance(value, Decimal | int):
        return _number(sheet, value, spec.number_format)
    if isinstance(value, dt.datetime):
        local = timezone.localtime(value, zone) if timezone.is_aware(value) else value
        return _formatted(sheet, local.replace(tzinfo=None), spec.number_format or DATETIME_FORMAT)
    if isinstance(value, dt.date):
        return _formatted(sheet, value, spec.number_format or DATE_FORMAT)
    cell = WriteOnlyCell(sheet, value=str(value))
    cell.data_type = "s"  # text starting with "=" stays text, never a formula
    return cell


def _number(sheet: WriteOnlyWorksheet, value: Decimal | int, number_format: str | None) -> Any:
    """A number cell whose stored text is the exact decimal (openpyxl would go via float)."""
    if not isinstance(value, Decimal):
        value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number")
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    cell = WriteOnlyCell(sheet, value=f"{value:f}")
    cell.data_type = "n"
    cell.number_format = number_format or ("#,##0." + "0" * places if places else "#,##0")
    return cell


def _formatted(sheet: WriteOnlyWorksheet, value: dt.date, number_format: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = number_format
    return cell
