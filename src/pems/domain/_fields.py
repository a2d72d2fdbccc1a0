"""Helpers that read typed fields out of parsed TOML, recording errors with their path."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from typing import Any, NoReturn, TypeVar

from pems.domain.money import D

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
_MISSING: Any = object()


class Invalid(Exception):
    """A problem was recorded; abandon the current item."""


class Problems:
    """Collects ``path: message`` problems so a file reports all of them at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def fail(self, path: str, message: str) -> NoReturn:
        """Record a problem and abandon the current item."""
        self.items.append(f"{path}: {message}")
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
            self.fail(path, f"expected a list, got {_show(items)}")
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
            self.fail(path, f"expected a table, got {_show(value)}")
        extra = sorted(set(value) - set(allowed if allowed is not None else value))
        if extra:
            self.fail(f"{path}.{extra[0]}" if path else extra[0], "unknown field")
        return value

    def get(self, table: Mapping[str, Any], key: str, path: str, default: Any = _MISSING) -> Any:
        """A field's raw value; missing fields without a default are a problem."""
        if key in table:
            return table[key]
        if default is _MISSING:
            self.fail(_join(path, key), "required field is missing")
        return default

    def text(self, value: object, path: str) -> str:
        """A non-empty string."""
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected text, got {_show(value)}")
        return value.strip()

    def decimal(self, value: object, path: str, minimum: Decimal | None = None) -> Decimal:
        """A decimal number (TOML number or string), optionally >= ``minimum``."""
        if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
            self.fail(path, f"expected a number, got {_show(value)}")
        try:
            number = D(value)
        except ValueError:
            self.fail(path, f"{value} is not a number")
        if minimum is not None and number < minimum:
            self.fail(path, f"{number} is below the minimum {minimum}")
        return number

    def choice(self, value: object, path: str, kind: type[E]) -> E:
        """One of an enumeration's values."""
        for member in kind:
            if isinstance(value, str) and value.strip().lower() == member.value.lower():
                return member
        options = ", ".join(m.value for m in kind)
        self.fail(path, f"{_show(value)} is not one of {options}")

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
        self.fail(path, f"{_plain(value)} is not a time (HH:MM)")

    def day(self, value: object, path: str) -> date:
        """A calendar date (TOML date or "YYYY-MM-DD")."""
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.fail(path, f"{_plain(value)} is not a date (YYYY-MM-DD)")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _plain(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _show(value: object) -> str:
    return f"{type(value).__name__} {value!r}"
