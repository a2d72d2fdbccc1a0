"""The sheet upload page: check or import, with a progress bar while a large sheet runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import translation

from pems.access.roles import Capability
from pems.access.scope import require
from pems.console.access import ConsoleView
from pems.console.forms.inventory import ImportForm
from pems.console.importing import Progress, import_with_progress

#: Where the streamed page is cut: progress and the report go in between.
MARKER = "<!--import-progress-->"


class ImportView(ConsoleView):
    capability = Capability.INVENTORY

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "console/import.html", {"form": ImportForm(user=request.user)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportForm(request.POST, request.FILES, user=request.user)
        if not form.is_valid():
            return render(request, "console/import.html", {"form": form}, status=400)
        data = form.cleaned_data
        require(request.user, Capability.INVENTORY, data["site"])
        page = render_to_string(
            "console/import_run.html", {"site": data["site"], "data": data}, request
        )
        head, tail = page.split(MARKER)
        language = translation.get_language()  # the person's, while the request is handled
        events = import_with_progress(
            data["sheet"],
            data["site"],
            request.user,
            dry_run=data["dry_run"],
            reason=data["reason"],
            language=language,
        )
        return StreamingHttpResponse(_stream(head, events, tail, request, language))


def _stream(
    head: str, events: Iterator[Any], tail: str, request: HttpRequest, language: str
) -> Iterator[str]:
    """The page around progress and report, in the person's ``language``.

    The body is rendered while the response streams, after the request's own
    handling (and the language it activated) may be over, so each part names it.
    """
    yield head
    for event in events:
        with translation.override(language):
            if isinstance(event, Progress):
                part = render_to_string("console/_import_progress.html", {"progress": event})
            else:
                part = render_to_string("console/_import_report.html", {"report": event}, request)
        yield part
    yield tail
