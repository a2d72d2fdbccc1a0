"""What an import did: per-kind tallies and every problem with its sheet row and column."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pems.siteplan import SheetIssue

#: ``progress(done, total)``: sheet rows processed so far, and in all.
Progress = Callable[[int, int], None]

#: The kinds of object an import creates or updates, in the order reports list them.
KINDS = ("location", "gateway", "meter", "metering point")

#: What a person reads for each kind (the keys of ``tallies`` stay English).
KIND_LABELS: Mapping[str, Promise] = {
    "location": _("location"),
    "gateway": _("gateway"),
    "meter": _("meter"),
    "metering point": _("metering point"),
}


@dataclass
class Tally:
    """How many objects of one kind an import created, updated or left as they were."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class ImportReport:
    """The outcome of an import; with errors (or a dry run) nothing was written."""

    site: str
    source: str
    rows: int
    tallies: Mapping[str, Tally]
    errors: tuple[SheetIssue, ...] = ()
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def labelled_tallies(self) -> list[tuple[Promise, Tally]]:
        """(translated kind, tally) in ``tallies`` order, for a person to read."""
        return [(KIND_LABELS[kind], tally) for kind, tally in self.tallies.items()]

    @property
    def problems(self) -> list[tuple[SheetIssue, str]]:
        """(issue, its problem in the active language) in ``errors`` order, for a person to read."""
        return [(issue, issue.text(gettext)) for issue in self.errors]

    @property
    def changed(self) -> bool:
        """True when the import wrote (or, dry, would write) something."""
        return self.ok and any(t.created or t.updated for t in self.tallies.values())
