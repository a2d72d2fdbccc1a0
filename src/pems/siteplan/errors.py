"""Errors of sheet reading: every problem with its row and column, all at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SheetIssue:
    """One problem in a sheet. ``row`` is the spreadsheet row (header = 1), 0 for the file."""

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "sheet"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class SheetError(Exception):
    """The sheet was rejected; ``issues`` lists every problem found (nothing was loaded)."""

    def __init__(self, issues: Sequence[SheetIssue]) -> None:
        self.issues: tuple[SheetIssue, ...] = tuple(issues)
        shown = "\n".join(f"  {issue}" for issue in self.issues[:50])
        more = len(self.issues) - 50
        tail = f"\n  … and {more} more" if more > 0 else ""
        super().__init__(f"site plan sheet rejected, {len(self.issues)} problem(s):\n{shown}{tail}")
