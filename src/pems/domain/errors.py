"""Exception types of the domain core.

All are terminal (retrying with the same input gives the same answer); the
caller fixes the input. Each message names what is wrong and where.
"""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """Base class of every error raised by :mod:`pems.domain`."""


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


class FileFormatError(DomainError, ValueError):
    """A tariff or usage file has one or more problems, each with its location."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        listing = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{listing}")


class TariffFileError(FileFormatError):
    """A tariff file is invalid; every problem names its field path."""


class UsageFileError(FileFormatError):
    """A usage file is invalid; every problem names its row and column."""
