"""A TOML syntax error as a translatable problem.

:mod:`tomllib` writes its own English (``Invalid value (at line 3, column 7)``).
The position becomes our sentence, and the library's commonest fixed wordings our
own templates; any other wording is shown as the library wrote it.
"""

from __future__ import annotations

import re
import tomllib

from pems.domain.errors import FileProblem
from pems.domain.messages import Message, gettext_noop

_AT = re.compile(
    r"^(?P<what>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$"
)

#: tomllib's fixed messages (Python 3.11–3.13 wording) → ours.
WORDINGS = {
    "Invalid value": gettext_noop("invalid value"),
    "Invalid statement": gettext_noop("invalid statement"),
    "Invalid date or datetime": gettext_noop("invalid date or datetime"),
    "Cannot overwrite a value": gettext_noop("cannot overwrite a value that is already set"),
    "Unclosed array": gettext_noop("unclosed array"),
    "Unclosed inline table": gettext_noop("unclosed inline table"),
    "Unterminated string": gettext_noop("unterminated string"),
    "Expected newline or end of document after a statement": gettext_noop(
        "expected a new line or the end of the file after a statement"
    ),
    "Expected '=' after a key in a key/value pair": gettext_noop(
        "expected '=' after a key in a key/value pair"
    ),
    "Expected ']' at the end of a table declaration": gettext_noop(
        "expected ']' at the end of a table declaration"
    ),
    "Expected ']]' at the end of an array declaration": gettext_noop(
        "expected ']]' at the end of an array declaration"
    ),
}


def syntax_problem(error: tomllib.TOMLDecodeError) -> FileProblem:
    """The whole file's one problem: where the syntax fails, and why."""
    match = _AT.match(str(error))
    if match is None:
        return FileProblem.of(0, None, gettext_noop("not valid TOML: %(error)s"), error=str(error))
    what = match["what"]
    why = Message(WORDINGS[what]) if what in WORDINGS else what
    if match["line"] is None:
        return FileProblem.of(
            0, None, gettext_noop("not valid TOML at the end of the file: %(error)s"), error=why
        )
    template = gettext_noop("not valid TOML at line %(line)s, column %(column)s: %(error)s")
    return FileProblem.of(
        0, None, template, line=int(match["line"]), column=int(match["column"]), error=why
    )
