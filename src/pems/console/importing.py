"""The upload page's import: the sheet is imported while the page streams its progress.

``pems.inventory.importer.import_sheet`` runs to completion and reports
progress through a callback, so it runs in a worker thread (its own database
connection and transaction: all or nothing, as from the command line) and the
request thread turns its progress into HTML as the response streams.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.db import connections
from django.utils import translation

from pems.inventory.importer import ImportReport, import_sheet
from pems.inventory.models import Site


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> int:
        return 100 * self.done // self.total if self.total else 100


def import_with_progress(
    sheet: IO[bytes], site: Site, actor: Any, *, dry_run: bool, reason: str, language: str
) -> Iterator[Progress | ImportReport]:
    """Yield progress (at most once per percent), then the report; re-raise the importer's crash.

    The import speaks ``language``: a thread starts in the default language, and
    this generator first runs as the response streams, after the request's handling.
    """
    events: queue.Queue[Progress | ImportReport | BaseException] = queue.Queue()

    def work() -> None:
        try:
            with translation.override(language):
                report = import_sheet(
                    sheet,
                    site,
                    actor,
                    lambda done, total: events.put(Progress(done, total)),
                    dry_run=dry_run,
                    reason=reason,
                )
            events.put(report)
        except BaseException as exc:  # handed to the request thread, which raises it
            events.put(exc)
        finally:
            connections.close_all()  # this thread's connections only

    worker = threading.Thread(target=work, name="pems-import", daemon=True)
    worker.start()
    shown = -1
    while True:
        event = events.get()
        if isinstance(event, Progress):
            if event.percent != shown:
                shown = event.percent
                yield event
            continue
        worker.join()
        if isinstance(event, BaseException):
            raise event
        yield event
        return
