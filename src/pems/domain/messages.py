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


#: A message as stored in a JSON column: ``{"template": …, "params": {name: value}}``,
#: a value being text, a whole number or such a message of its own.
StoredMessage: TypeAlias = "dict[str, object]"


def stored(message: Message) -> StoredMessage:
    """``message`` for a JSON column, to be translated where it is shown (:func:`restored`).

    Decimal values are kept as their text: a stored message is only ever shown.
    """
    params = {
        name: stored(value)
        if isinstance(value, Message)
        else value
        if isinstance(value, int | str)
        else str(value)
        for name, value in message.params
    }
    return {"template": message.template, "params": params}


def restored(data: StoredMessage) -> Message:
    """The message :func:`stored` kept; raises ValueError for anything else."""
    template, params = data.get("template"), data.get("params", {})
    if not isinstance(template, str) or not isinstance(params, dict):
        raise ValueError(f"not a stored message: {data!r}")
    values: list[tuple[str, Param]] = []
    for name, value in params.items():
        if isinstance(value, dict):
            values.append((name, restored(value)))
        elif isinstance(value, int | str) and not isinstance(value, bool):
            values.append((name, value))
        else:
            raise ValueError(f"not a stored message value: {value!r}")
    return Message(template, tuple(values))
