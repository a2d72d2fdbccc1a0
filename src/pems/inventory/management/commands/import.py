"""`pems import FILE --site NAME [--create-site] [--dry-run]`: load the installer's sheet.

All or nothing: with any problem, every problem is listed as
``row 12, column 'meter_address': …`` on stderr (in the active language:
``PEMS_LANGUAGE``, Simplified Chinese by default), nothing is written and the
exit status is 1. A progress bar runs on stderr while rows are processed.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pems.audit.log import diff, record, snapshot
from pems.inventory.importer import KINDS, ImportReport, import_sheet
from pems.inventory.importer import Progress as ProgressCallback
from pems.inventory.models import Site
from pems.siteplan import SheetIssue


class Command(BaseCommand):
    help = "Import gateways and meters from the installer's CSV/XLSX sheet, all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The sheet: .csv or .xlsx.")
        parser.add_argument("--site", required=True, help="Name of the site to import into.")
        parser.add_argument(
            "--create-site", action="store_true", help="Create the site if it does not exist."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count, then write nothing."
        )
        parser.add_argument("--reason", default="", help="Why (kept in the audit log).")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        actor = f"pems import ({getpass.getuser()})"
        with transaction.atomic():
            site = _site(options["site"], create=options["create_site"], actor=actor)
            with _progress_bar(getattr(self.stderr, "_out", sys.stderr)) as progress:
                report = import_sheet(
                    path,
                    site,
                    actor,
                    progress,
                    dry_run=options["dry_run"],
                    reason=options["reason"],
                )
            if report.dry_run or not report.ok:
                transaction.set_rollback(True)
        if not report.ok:
            for issue in report.errors:
                self.stderr.write(describe(issue))
            raise CommandError(
                _("%(count)s problem(s) in %(name)s: nothing was imported.")
                % {"count": len(report.errors), "name": path.name}
            )
        self.stdout.write(summary(report))


def _site(name: str, *, create: bool, actor: str) -> Site:
    site = Site.objects.filter(name=name).first()
    if site is not None:
        return site
    if not create:
        known = ", ".join(repr(n) for n in Site.objects.values_list("name", flat=True)) or "none"
        raise CommandError(f"No site named {name!r} (sites: {known}); add --create-site.")
    site = Site(name=name)
    try:
        site.full_clean()
    except ValidationError as exc:
        raise CommandError(f"Cannot create site {name!r}: {'; '.join(exc.messages)}") from None
    site.save()
    record(actor, "create", site, diff({}, snapshot(site)), "pems import --create-site")
    return site


@contextmanager
def _progress_bar(stream: Any) -> Iterator[ProgressCallback | None]:
    """A bar on a terminal; nothing in logs and pipes, where it would only be noise."""
    console = Console(file=stream)
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("rows", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def describe(issue: SheetIssue) -> str:
    """One problem in the active language: ``row 12, column 'meter_address': …``."""
    return issue.describe(_, quote_column=True)


def summary(report: ImportReport) -> str:
    """Created / updated / unchanged per kind, or a one-line "nothing to change"."""
    if not report.changed:
        return (
            f"Nothing to change: site {report.site!r} already matches {report.source} "
            f"({report.rows} rows)."
        )
    verb = "Would import" if report.dry_run else "Imported"
    lines = [
        f"{verb} {report.source} into site {report.site!r} ({report.rows} rows):",
        f"  {'':16}{'created':>9}{'updated':>9}{'unchanged':>11}",
    ]
    for kind in KINDS:
        tally = report.tallies[kind]
        lines.append(f"  {kind:16}{tally.created:>9}{tally.updated:>9}{tally.unchanged:>11}")
    if report.dry_run:
        lines.append("Dry run: nothing was written.")
    return "\n".join(lines)
