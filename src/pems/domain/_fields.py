"""Helpers that read typed fields out of parsed TOML, recording errors with their path.

Each problem is a marked English template with its values (see
:mod:`pems.domain.messages`), so that it can be shown in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from pems.domain.errors import FileProblem
from pems.domain.messages import Message, Param, gettext_noop
from pems.domain.money import D

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
_MISSING: Any = object()


class Invalid(Exception):
    """A problem was recorded; abandon the current item."""


class Problems:
    """Collects problems at their field path so a file reports all of them at once."""

    def __init__(self) -> None:
        self.items: list[FileProblem] = []

    def fail(self, path: str, problem: str | Message, /, **params: Param) -> NoReturn:
        """Record a problem (a marked template and its values, or a message); abandon the item."""
        message = problem if isinstance(problem, Message) else Message.of(problem, **params)
        self.items.append(FileProblem.at(0, path, message))
        raise Invalid

    def attempt(self, read: Callable[[], T]) -> T | None:
        """Run ``read``; None (problem recorded) if it fails, so reading can go on."""
        try:
            return read()
        except Invalid:
            return None

    def each(self, items: object, path: str, read: Callable[[Any, str], T]) -> list[T]:
        """Read every item of a list, keeping going after a bad one."""
        if not isinstance(items, list):
            self.fail(path, gettext_noop("expected a list, got %(value)s"), value=_show(items))
        results = []
        for index, item in enumerate(items):
            try:
                results.append(read(item, f"{path}[{index}]"))
            except Invalid:
                continue
        return results

    def table(
        self, value: object, path: str, allowed: Iterable[str] | None = None
    ) -> Mapping[str, Any]:
        """A TOML table with only the ``allowed`` keys (any keys when None)."""
        if not isinstance(value, Mapping):
            self.fail(path, gettext_noop("expected a table, got %(value)s"), value=_show(value))
        extra = sorted(set(value) - set(allowed if allowed is not None else value))
        if extra:
            self.fail(_join(path, extra[0]), gettext_noop("unknown field"))
        return value

    def get(self, table: Mapping[str, Any], key: str, path: str, default: Any = _MISSING) -> Any:
        """A field's raw value; missing fields without a default are a problem."""
        if key in table:
            return table[key]
        if default is _MISSING:
            self.fail(_join(path, key), gettext_noop("required field is missing"))
        return default

    def text(self, value: object, path: str) -> str:
        """A non-empty string."""
        if not isinstance(value, str) or not value.strip():
            self.fail(path, gettext_noop("expected text, got %(value)s"), value=_show(value))
        return value.strip()

    def decimal(self, value: object, path: str, minimum: Decimal | None = None) -> Decimal:
        """A decimal number (TOML number or string), optionally >= ``minimum``."""
        if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
            self.fail(path, gettext_noop("expected a number, got %(value)s"), value=_show(value))
        try:
            number = D(value)
        except ValueError:
            self.fail(path, gettext_noop("%(value)s is not a number"), value=value)
        if minimum is not None and number < minimum:
            template = gettext_noop("%(value)s is below the minimum %(minimum)s")
            self.fail(path, template, value=number, minimum=minimum)
        return number

    def choice(self, value: object, path: str, kind: type[E]) -> E:
        """One of an enumeration's values."""
        for member in kind:
            if isinstance(value, str) and value.strip().lower() == member.value.lower():
                return member
        options = ", ".join(m.value for m in kind)
        template = gettext_noop("%(value)s is not one of %(options)s")
        self.fail(path, template, value=_show(value), options=options)

    def clock(self, value: object, path: str, allow_24: bool = False) -> time:
        """A wall-clock time "HH:MM" or "HH:MM:SS" ("24:00" allowed for ends)."""
        if isinstance(value, time) and value.tzinfo is None:
            return value
        if isinstance(value, str):
            if allow_24 and value.strip() in {"24:00", "24:00:00"}:
                return time(0)
            parts = value.strip().split(":")
            if 2 <= len(parts) <= 3 and all(p.isdigit() and len(p) == 2 for p in parts):
                hour, minute, *rest = (int(p) for p in parts)
                try:
                    return time(hour, minute, rest[0] if rest else 0)
                except ValueError:
                    pass
        self.fail(path, gettext_noop("%(value)s is not a time (HH:MM)"), value=_plain(value))

    def day(self, value: object, path: str) -> date:
        """A calendar date (TOML date or "YYYY-MM-DD")."""
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.fail(path, gettext_noop("%(value)s is not a date (YYYY-MM-DD)"), value=_plain(value))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _plain(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _show(value: object) -> str:
    return f"{type(value).__name__} {value!r}"
