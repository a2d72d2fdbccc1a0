"""Import the installer's sheet: a site plan becomes locations, gateways, meters and points.

Public API (``pems import`` and the console's upload page call it; keep it stable)::

    from pems.inventory.importer import import_sheet, import_plan

    report = import_sheet(path_or_file, site, actor, progress=None, *, dry_run=False, reason="")
    report = import_plan(plan, site, actor, progress=None, *, dry_run=False, reason="", rows=None)
    report.ok              # False: ``report.errors`` lists every SheetIssue(row, column, …)
    report.problems        # (issue, its problem in the active language), for a person to read
    report.changed         # False on a re-import of the same sheet: nothing was written
    report.tallies         # kind → Tally(created, updated, unchanged), kinds in KINDS order

``path_or_file`` is a ``.csv``/``.xlsx`` path or an open binary file with a ``name``
(an uploaded file). ``progress(done, total)`` is called as sheet rows are processed.

What it maps (docs/site-plan-sheet.md): area → floor → room become the site's
location tree; a gateway is matched by (site, name); a meter by its number
among installed meters (an ADF300 box is one meter whose number is its first
circuit's, answering on one address per circuit); a metering point by (meter,
circuit), with a circuit's own number kept on the point. The money columns
(prices, opening credit, thresholds) describe the meters' own settings and are
not inventory: the importer ignores them.

All or nothing: everything runs in one transaction, every new or changed row
goes through ``full_clean``, and each problem is reported against the sheet row
and column it came from. A changed row updates its object (audited with before
and after); nothing is ever deleted. The sheet reader's problems are English
templates (``pems.siteplan`` has no gettext), rendered when shown; problems
found here are written in the active language as they are found.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext as _

from pems.inventory.importer.report import KINDS, ImportReport, Progress, Tally
from pems.inventory.importer.rows import (
    default_row_numbers,
    local_copy,
    meter_groups,
    sheet_row_numbers,
)
from pems.inventory.importer.writer import Aborted, InventoryWriter
from pems.inventory.models import Site
from pems.siteplan import SheetError, SheetIssue, SitePlan, read_sheet


def import_sheet(
    path_or_file: str | Path | IO[bytes],
    site: Site,
    actor: Any,
    progress: Progress | None = None,
    *,
    dry_run: bool = False,
    reason: str = "",
) -> ImportReport:
    """Read a ``.csv``/``.xlsx`` sheet and import it into ``site`` (see :func:`import_plan`)."""
    name = Path(str(getattr(path_or_file, "name", path_or_file) or "upload")).name
    with local_copy(path_or_file) as path:
        try:
            plan = read_sheet(path)
        except SheetError as exc:
            return _rejected(site, name, exc.issues, dry_run)
        except (UnicodeDecodeError, csv.Error, OSError) as exc:
            message = _(
                "%(name)s cannot be read (%(error)s): save it from Excel as .xlsx or as “CSV UTF-8”"
            ) % {"name": name, "error": exc}
            return _rejected(site, name, [SheetIssue(0, None, message)], dry_run)
        return import_plan(
            plan,
            site,
            actor,
            progress,
            dry_run=dry_run,
            reason=reason,
            source=name,
            rows=sheet_row_numbers(path),
        )


def import_plan(
    plan: SitePlan,
    site: Site,
    actor: Any,
    progress: Progress | None = None,
    *,
    dry_run: bool = False,
    reason: str = "",
    source: str = "",
    rows: Mapping[str, int] | None = None,
) -> ImportReport:
    """Create or update the site's inventory from ``plan`` in one transaction.

    ``rows`` maps meter numbers to their sheet rows (default: the rows
    ``write_sheet(plan)`` would write).
    """
    source = source or plan.site
    if plan.site != site.name:
        issue = SheetIssue(
            _first_row(plan, rows),
            "site",
            _(
                "the sheet describes site %(sheet)s, not %(site)s: "
                "check the sheet or the site you import into"
            )
            % {"sheet": plan.site, "site": site.name},
        )
        return _rejected(site, source, [issue], dry_run)
    rows = rows or default_row_numbers(plan)
    importer = InventoryWriter(
        site, actor, reason or _("import of %(source)s") % {"source": source}
    )
    with transaction.atomic():
        with suppress(Aborted):
            importer.run(meter_groups(plan, rows), plan.meter_count, progress)
        report = ImportReport(
            site.name,
            source,
            plan.meter_count,
            importer.tallies,
            tuple(sorted(importer.errors, key=lambda i: i.row)),
            dry_run,
        )
        if report.ok and report.changed and not dry_run:
            importer.write_audit(source, report)
        if dry_run or not report.ok:
            transaction.set_rollback(True)
    return report


def _first_row(plan: SitePlan, rows: Mapping[str, int] | None) -> int:
    first = next(plan.points(), None)
    if first is None:
        return 0
    return (rows or {}).get(first[1].meter_number, 2)


def _rejected(site: Site, source: str, issues: Iterable[SheetIssue], dry_run: bool) -> ImportReport:
    return ImportReport(site.name, source, 0, {k: Tally() for k in KINDS}, tuple(issues), dry_run)


__all__ = [
    "KINDS",
    "ImportReport",
    "Progress",
    "Tally",
    "default_row_numbers",
    "import_plan",
    "import_sheet",
    "sheet_row_numbers",
]
