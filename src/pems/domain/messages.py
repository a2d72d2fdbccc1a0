"""Messages a person reads, kept translatable in a layer that cannot import Django.

A :class:`Message` is an English template with named placeholders, marked with
:func:`gettext_noop` so that ``makemessages`` collects it, plus its values. The
Django side renders it with ``message.text(gettext)``; ``str()`` is English, for
logs and tests. Values are filled in *after* translation, so a ``%`` in a value
stays literal, and a value may itself be a message (translated the same way).

``pems.siteplan`` renders its sheet problems with the same pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

#: A value shown in a message: text as the file had it, a number, or a message of its own.
Param: TypeAlias = "str | int | Decimal | Message"

#: ``gettext`` at the Django boundary; elsewhere the English template as it is.
Translate = Callable[[str], str]


def gettext_noop(message: str) -> str:
    """Mark ``message`` for ``makemessages`` (one of its keywords); it is translated where shown."""
    return message


def english(message: str) -> str:
    """The identity ``Translate``: templates are English."""
    return message


def fill(template: str, params: tuple[tuple[str, Param], ...], translate: Translate) -> str:
    """``template`` through ``translate``, then filled in with ``params`` (themselves rendered)."""
    text = translate(template)
    if not params:
        return text  # not %-formatted: text made elsewhere keeps any "%" as it is
    values = {k: v.text(translate) if isinstance(v, Message) else v for k, v in params}
    return text % values


@dataclass(frozen=True, slots=True)
class Message:
    """An English template whose ``%(name)s`` placeholders take ``params``.

    Text already written in some language, without params, may stand as a
    template: ``gettext`` finds no such msgid and leaves it as it is.
    """

    template: str
    params: tuple[tuple[str, Param], ...] = ()

    @classmethod
    def of(cls, template: str, /, **params: Param) -> Message:
        """A message whose template takes ``params`` by name."""
        return cls(template, tuple(params.items()))

    def text(self, translate: Translate = english) -> str:
        """The message through ``translate``."""
        return fill(self.template, self.params, translate)

    def __str__(self) -> str:
        return self.text()
