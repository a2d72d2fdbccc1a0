"""Reading and writing the installer's import sheet as CSV or XLSX.

One flat sheet, one row per metering point (ADF300: one row per circuit), the
columns of :data:`pems.siteplan.columns.COLUMNS`. Reading validates the whole
sheet and raises :class:`SheetError` listing every problem; nothing partial is
ever returned.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zipfile import BadZipFile

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from pems.siteplan.columns import COLUMNS, NUMERIC_COLUMNS, gateway_cells
from pems.siteplan.errors import SheetError, SheetIssue, gettext_noop
from pems.siteplan.model import Gateway, MeterPoint, SitePlan
from pems.siteplan.validate import build_plan, check_header

SHEET_TITLE = "meters"
_SUFFIXES = (".csv", ".xlsx")


def read_sheet(path: str | Path) -> SitePlan:
    """Read a ``.csv`` or ``.xlsx`` sheet into a validated plan (SheetError on any problem)."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as stream:
            return read_csv(stream)
    return read_xlsx(path)


def write_sheet(plan: SitePlan, path: str | Path) -> None:
    """Write ``plan`` as a ``.csv`` (UTF-8 with BOM, for Excel) or ``.xlsx`` sheet."""
    path = Path(path)
    if _suffix(path) == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as stream:
            write_csv(plan, stream)
    else:
        write_xlsx(plan, path)


def read_csv(stream: IO[str]) -> SitePlan:
    """Read a CSV sheet from a text stream."""
    reader = csv.reader(stream)
    header = [name.strip() for name in next(reader, [])]
    return _plan_from_table(header, enumerate(reader, start=2))


def write_csv(plan: SitePlan, stream: IO[str]) -> None:
    """Write the plan's rows as CSV to a text stream."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in plan_rows(plan):
        writer.writerow([row[name] for name in COLUMNS])


def read_xlsx(path: Path) -> SitePlan:
    """Read the first worksheet of an XLSX workbook."""
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (OSError, ValueError, KeyError, BadZipFile, InvalidFileException) as exc:
        template = gettext_noop("%(name)s is not a readable .xlsx file: %(error)s")
        raise SheetError(
            [SheetIssue.of(0, None, template, name=path.name, error=str(exc))]
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [_cell_text(value).strip() for value in next(rows, ())]
        while header and not header[-1]:
            header.pop()
        table = ([_cell_text(v) for v in values[: len(header)]] for values in rows)
        return _plan_from_table(header, enumerate(table, start=2))
    finally:
        workbook.close()


def write_xlsx(plan: SitePlan, path: Path) -> None:
    """Write the plan as one worksheet; identifiers are text cells so zeros survive.

    Streams rows (openpyxl write-only mode), so 100,000-row plans are quick.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_TITLE)
    for index, name in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(10, len(name) + 2)
    sheet.freeze_panes = "A2"
    sheet.append(list(COLUMNS))
    for row in plan_rows(plan):
        sheet.append([_xlsx_cell(sheet, name, row[name]) for name in COLUMNS])
    workbook.save(path)


def _xlsx_cell(sheet: Any, column: str, text: str) -> str | int | Decimal | WriteOnlyCell:
    """Numbers as numbers (so Excel sums them), everything else as text.

    Text starting with "=" gets an explicit text cell so it is never a formula.
    """
    if column in NUMERIC_COLUMNS and text:
        return int(text) if text.isdigit() else Decimal(text)
    if not text.startswith("="):
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    return cell


def plan_rows(plan: SitePlan) -> Iterator[dict[str, str]]:
    """The plan as sheet rows (cells by column name), in sheet order."""
    for gateway, meter in plan.points():
        yield _row(plan.site, gateway, meter)


def _row(site: str, gateway: Gateway, meter: MeterPoint) -> dict[str, str]:
    location, circuit = meter.location, meter.circuit
    return {
        "site": site,
        "gateway": gateway.code,
        **gateway_cells(gateway),
        "area_kind": location.area_kind.value,
        "area": location.area,
        "floor": location.floor,
        "room": location.room,
        "meter_address": meter.address_text(gateway.protocol),
        "meter_number": meter.meter_number,
        "model": meter.model.value,
        "box": circuit.box if circuit else "",
        "circuit": str(circuit.index) if circuit else "",
        "phases": str(circuit.phases) if circuit else "",
        "ct_ratio": str(meter.ct_ratio),
        "pt_ratio": str(meter.pt_ratio),
        "fee_control": meter.fee_control.value,
        "initial_credit": str(meter.initial_credit),
        "price_sharp": str(meter.prices.sharp),
        "price_peak": str(meter.prices.peak),
        "price_flat": str(meter.prices.flat),
        "price_valley": str(meter.prices.valley),
        "alarm1_threshold": str(meter.alarm1),
        "alarm2_threshold": str(meter.alarm2),
        "overdraft_limit": str(meter.overdraft_limit),
        "hoarding_limit": "" if meter.hoarding_limit is None else str(meter.hoarding_limit),
    }


def _plan_from_table(header: Sequence[str], rows: Iterator[tuple[int, Sequence[str]]]) -> SitePlan:
    if issues := check_header(header):
        raise SheetError(issues)
    cells = (
        (number, dict(zip(header, values, strict=False)))
        for number, values in rows
        if any(value.strip() for value in values)
    )
    return build_plan(cells)


def _cell_text(value: object) -> str:
    """An XLSX cell as the text an installer meant (12.0 → "12", 0.85 → "0.85")."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        template = gettext_noop("%(name)s: use a .csv or .xlsx file")
        raise SheetError([SheetIssue.of(0, None, template, name=path.name)])
    return suffix


def sheet_text(plan: SitePlan) -> str:
    """The plan as CSV text (handy for logs and tests)."""
    buffer = io.StringIO()
    write_csv(plan, buffer)
    return buffer.getvalue()
