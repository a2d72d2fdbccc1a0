"""What the action views share: remembering finished forms, and showing refusals."""

from __future__ import annotations

from django.http import HttpRequest

#: How many finished form keys a session remembers.
DONE_KEYS = 50


def done_before(request: HttpRequest, key: str) -> str | None:
    """Where a form with this key went when it was done, if it was (a resubmitted page)."""
    return request.session.get("console_done", {}).get(key) if key else None


def remember_done(request: HttpRequest, key: str, url: str) -> None:
    done = dict(request.session.get("console_done", {}))
    done[key] = url
    request.session["console_done"] = dict(list(done.items())[-DONE_KEYS:])


def refusal_text(exc: Exception) -> list[str]:
    """The person-readable message(s) of a domain refusal."""
    texts = getattr(exc, "messages", None)
    return [str(m) for m in texts] if texts else [str(exc)]
