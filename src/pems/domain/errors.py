"""Exception types of the domain core.

All are terminal (retrying with the same input gives the same answer); the
caller fixes the input. Each message names what is wrong and where. Errors a
person may see are raised with a :class:`~pems.domain.messages.Message`, so the
Django side can show them in the reader's language; ``str()`` stays English.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pems.domain.messages import Message, Param, Translate, english, fill, gettext_noop


class DomainError(Exception):
    """Base class of every error raised by :mod:`pems.domain`."""

    @property
    def message(self) -> Message:
        """What is wrong, to render with ``translate``: plain English text if raised with a str."""
        first = self.args[0] if self.args else ""
        return first if isinstance(first, Message) else Message(str(first))


class FloatNotAllowedError(DomainError, TypeError):
    """A float was offered where money or a quantity is expected."""


class CurrencyError(DomainError, ValueError):
    """Unknown currency, or arithmetic between two different currencies."""


class UnitMismatchError(DomainError, ValueError):
    """Arithmetic or pricing across different units (kWh vs m³)."""


class PrecisionError(DomainError, ValueError):
    """A value has more decimal places than the type allows (round it first)."""


class CalendarRangeError(DomainError, LookupError):
    """The holiday calendar does not know the year asked about."""


class TariffError(DomainError, ValueError):
    """A tariff (or part of one) is inconsistent; the message names the field."""


class TariffNotInForceError(DomainError, LookupError):
    """Consumption falls before the first version of a tariff."""


class UsageError(DomainError, ValueError):
    """Usage that cannot be priced: overlaps, negative energy, wrong unit, bad order."""


#: Where a problem is, by (has a row, has a field); one whole sentence each so that
#: a translation can order it as its language needs. Row and column wordings are
#: the site-plan sheet's, so one translation serves both.
_LOCATED = {
    (True, True): gettext_noop("row %(row)s, column %(column)s: %(problem)s"),
    (True, False): gettext_noop("row %(row)s: %(problem)s"),
    (False, True): gettext_noop("%(field)s: %(problem)s"),
}


@dataclass(frozen=True, slots=True)
class FileProblem:
    """One problem in a tariff or usage file, and where it is.

    A tariff file's problems name a ``field`` path (``versions[0].prices.flat``)
    and no row; a usage file's a ``row`` (its line, header = 1) and maybe a column
    as ``field``. ``template`` is an English msgid whose placeholders take ``params``.
    """

    row: int
    field: str | None
    template: str
    params: tuple[tuple[str, Param], ...] = ()

    @classmethod
    def of(cls, row: int, field: str | None, template: str, /, **params: Param) -> FileProblem:
        """A problem whose template takes ``params`` by name."""
        return cls(row, field or None, template, tuple(params.items()))

    @classmethod
    def at(cls, row: int, field: str | None, message: Message) -> FileProblem:
        """A problem that a message (e.g. a domain error's) describes."""
        return cls(row, field or None, message.template, message.params)

    @property
    def message(self) -> str:
        """The problem alone, in English."""
        return self.text()

    def text(self, translate: Translate = english) -> str:
        """The problem alone, through ``translate``."""
        return fill(self.template, self.params, translate)

    def describe(self, translate: Translate = english) -> str:
        """``versions[0].id: …``, ``row 3, column kwh: …``, ``row 3: …`` or the problem alone."""
        problem = self.text(translate)
        if not self.row and not self.field:
            return problem
        values = {"row": self.row, "column": self.field, "field": self.field, "problem": problem}
        return translate(_LOCATED[bool(self.row), bool(self.field)]) % values

    def __str__(self) -> str:
        return self.describe()


class FileFormatError(DomainError, ValueError):
    """A tariff or usage file has one or more problems, each with its location."""

    def __init__(self, source: str, problems: Sequence[FileProblem]) -> None:
        self.source = source
        self.problems: tuple[FileProblem, ...] = tuple(problems)
        super().__init__(self.describe())

    def describe(self, translate: Translate = english) -> str:
        """A summary line, then every problem, one an indented line."""
        summary = translate(gettext_noop("%(source)s: %(count)s problem(s):"))
        lines = [summary % {"source": self.source, "count": len(self.problems)}]
        lines += [f"  {problem.describe(translate)}" for problem in self.problems]
        return "\n".join(lines)


class TariffFileError(FileFormatError):
    """A tariff file is invalid; every problem names its field path."""


class UsageFileError(FileFormatError):
    """A usage file is invalid; every problem names its row and column."""
