"""Errors of sheet reading: every problem with its row and column, all at once.

This layer must not import Django, so it cannot translate. Each message is an
English template with named placeholders plus its values, marked and rendered
the way every pure layer's are (:mod:`pems.domain.messages`); the Django side
shows it with ``issue.text(gettext)`` in the reader's language. ``str()``
stays English for logs and the pure command-line tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pems.domain.messages import Param, Translate, english, fill, gettext_noop

__all__ = ["Param", "SheetError", "SheetIssue", "Translate", "gettext_noop"]

#: How many problems ``str(SheetError)`` lists before "… and N more".
SHOWN = 50


#: The "where" of a problem, by (has a row, has a column); one whole sentence each
#: so that a translation can order it as its language needs.
_LOCATED = {
    (True, True): gettext_noop("row %(row)s, column %(column)s: %(problem)s"),
    (True, False): gettext_noop("row %(row)s: %(problem)s"),
    (False, True): gettext_noop("sheet, column %(column)s: %(problem)s"),
    (False, False): gettext_noop("sheet: %(problem)s"),
}


@dataclass(frozen=True, slots=True)
class SheetIssue:
    """One problem in a sheet. ``row`` is the spreadsheet row (header = 1), 0 for the file.

    ``template`` is an English msgid whose ``%(name)s`` placeholders take ``params``.
    A problem found on the Django side may come as text already in the reader's
    language, without params: ``gettext`` finds no such msgid and leaves it as it is.
    """

    row: int
    column: str | None
    template: str
    params: tuple[tuple[str, Param], ...] = ()

    @classmethod
    def of(cls, row: int, column: str | None, template: str, /, **params: Param) -> SheetIssue:
        """An issue whose template takes ``params`` by name."""
        return cls(row, column, template, tuple(params.items()))

    @property
    def message(self) -> str:
        """The problem in English."""
        return self.text()

    def text(self, translate: Translate = english) -> str:
        """The problem alone: the template through ``translate``, then filled in."""
        return fill(self.template, self.params, translate)

    def describe(self, translate: Translate = english, *, quote_column: bool = False) -> str:
        """``row 12, column meter_address: …``, or ``sheet: …`` for the whole file."""
        column = repr(self.column) if quote_column and self.column else self.column
        values = {"row": self.row, "column": column, "problem": self.text(translate)}
        return translate(_LOCATED[bool(self.row), bool(column)]) % values

    def __str__(self) -> str:
        return self.describe()


class SheetError(Exception):
    """The sheet was rejected; ``issues`` lists every problem found (nothing was loaded)."""

    def __init__(self, issues: Sequence[SheetIssue]) -> None:
        self.issues: tuple[SheetIssue, ...] = tuple(issues)
        super().__init__(self.describe())

    def describe(self, translate: Translate = english) -> str:
        """A summary line, then the first problems, one an indented line."""
        summary = gettext_noop("site plan sheet rejected, %(count)s problem(s):")
        lines = [translate(summary) % {"count": len(self.issues)}]
        lines += [f"  {issue.describe(translate)}" for issue in self.issues[:SHOWN]]
        if (more := len(self.issues) - SHOWN) > 0:
            lines.append("  " + translate(gettext_noop("… and %(count)s more")) % {"count": more})
        return "\n".join(lines)
