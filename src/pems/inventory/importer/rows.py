"""From a sheet to the importer's units of work: row numbers, and rows grouped by meter."""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from openpyxl import load_workbook

from pems.siteplan import Gateway, MeterPoint, SitePlan


def default_row_numbers(plan: SitePlan) -> dict[str, int]:
    """Meter number → row, as ``write_sheet(plan)`` writes the plan (header = row 1)."""
    return {meter.meter_number: row for row, (_, meter) in enumerate(plan.points(), start=2)}


def sheet_row_numbers(path: Path) -> dict[str, int]:
    """Meter number → the spreadsheet row it is on (numbers as the sheet reader pads them)."""
    numbers: dict[str, int] = {}
    for row, cell in _meter_number_cells(path):
        text = cell.strip()
        if text.isdigit():
            numbers.setdefault(text.zfill(12), row)
    return numbers


def _meter_number_cells(path: Path) -> Iterable[tuple[int, str]]:
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as stream:
            reader = csv.reader(stream)
            header = [name.strip() for name in next(reader, [])]
            if "meter_number" not in header:
                return
            index = header.index("meter_number")
            for row, values in enumerate(reader, start=2):
                yield row, values[index] if index < len(values) else ""
        return
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        cells = workbook.worksheets[0].iter_rows(values_only=True)
        header = [str(value or "").strip() for value in next(cells, ())]
        if "meter_number" not in header:
            return
        index = header.index("meter_number")
        for row, values in enumerate(cells, start=2):
            value = values[index] if index < len(values) else None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            yield row, "" if value is None else str(value)
    finally:
        workbook.close()


@contextmanager
def local_copy(source: str | Path | IO[bytes]) -> Iterator[Path]:
    """A path as it is, or an uploaded file as a named temporary copy (the reader wants a path)."""
    if isinstance(source, str | Path):
        yield Path(source)
        return
    suffix = Path(str(getattr(source, "name", "") or "upload.csv")).suffix.lower()
    handle, name = tempfile.mkstemp(suffix=suffix, prefix="pems-import-")
    copy = Path(name)
    try:
        with open(handle, "wb") as stream:
            shutil.copyfileobj(source, stream)
        yield copy
    finally:
        copy.unlink(missing_ok=True)


@dataclass(frozen=True)
class MeterRows:
    """The sheet rows of one meter: one row, or one per circuit of an ADF300 box."""

    gateway: Gateway
    points: tuple[tuple[int, MeterPoint], ...]

    @property
    def row(self) -> int:
        return self.points[0][0]

    @property
    def first(self) -> MeterPoint:
        return self.points[0][1]


def meter_groups(plan: SitePlan, rows: Mapping[str, int]) -> list[MeterRows]:
    """Rows grouped by meter, in sheet order; a box's circuits in circuit order."""
    groups: dict[tuple[str, str], list[tuple[int, MeterPoint]]] = {}
    planned: dict[tuple[str, str], Gateway] = {}
    for gateway, point in plan.points():
        key = (gateway.code, f"box:{point.circuit.box}" if point.circuit else point.meter_number)
        groups.setdefault(key, []).append((rows.get(point.meter_number, 0), point))
        planned[key] = gateway
    return [
        MeterRows(planned[key], tuple(sorted(members, key=_circuit_index)))
        for key, members in groups.items()
    ]


def _circuit_index(member: tuple[int, MeterPoint]) -> int:
    circuit = member[1].circuit
    return circuit.index if circuit else 1
