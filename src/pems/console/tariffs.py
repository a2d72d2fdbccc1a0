"""The tariff pages' view of tariffs: versions and their state, accounts, last revision.

Only reads; creating and revising are :mod:`pems.billing.tariffs`' actions.
Every time these pages show is written here, with its zone's name: a
version's start in the zone the tariff is priced in, a revision's time in the
site's zone, never the server's (``settings.TIME_ZONE``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils import dateformat, timezone
from django.utils.translation import pgettext

from pems.accounts.models import Account
from pems.billing.models import AccountTariff, Tariff, TariffRevision
from pems.billing.tariffs import readable, version_states
from pems.inventory.models import Site

#: How the pages write a moment: versions start on a minute, revisions to the second.
MINUTES = "Y-m-d H:i"
SECONDS = "Y-m-d H:i:s"


def zoned(moment: datetime, zone: ZoneInfo, pattern: str = MINUTES) -> str:
    """``moment`` as the clock in ``zone`` shows it, then the zone's name, so nobody guesses."""
    return f"{dateformat.format(timezone.localtime(moment, zone), pattern)} {zone.key}"


def site_zone(site: Site) -> ZoneInfo:
    """The zone a site's people read their clocks in."""
    return ZoneInfo(site.time_zone)


@dataclass(frozen=True)
class VersionRow:
    """One version of a tariff document and where it stands now."""

    id: str
    effective_from: datetime
    state: str  # "superseded", "in-force" or "scheduled"
    shown_from: str  # effective_from in the tariff's own zone, with the zone's name

    @property
    def state_label(self) -> str:
        labels = {
            "superseded": pgettext("tariff version", "superseded"),
            "in-force": pgettext("tariff version", "in force"),
            "scheduled": pgettext("tariff version", "scheduled"),
        }
        return labels[self.state]


@dataclass(frozen=True)
class TariffRow:
    tariff: Tariff
    versions: tuple[VersionRow, ...]
    accounts: int  # open accounts paying under it now
    last: TariffRevision | None
    last_at: str = ""  # when ``last`` was made, in the site's zone
    problem: str = ""  # a stored document the parser no longer accepts


@dataclass(frozen=True)
class RevisionRow:
    revision: TariffRevision
    at: str  # created_at in the site's zone, with the zone's name


def versions_of(tariff: Tariff, now: datetime | None = None) -> tuple[tuple[VersionRow, ...], str]:
    """The tariff's versions, oldest first, and a problem if its document does not parse.

    A version starts at a moment in the zone the tariff is priced in, and is
    shown there. A document that does not parse has no versions to show (the
    rest of the page uses the site's zone).
    """
    now = now or timezone.now()
    parsed, problem = readable(tariff)
    if parsed is None:
        return (), problem
    rows = tuple(
        VersionRow(v.id, v.effective_from, state, zoned(v.effective_from, parsed.zone))
        for v, state in version_states(parsed, now)
    )
    return rows, ""


def accounts_under(tariffs: QuerySet[Tariff], now: datetime | None = None) -> Counter[int]:
    """How many open accounts pay under each tariff now (their latest started assignment)."""
    now = now or timezone.now()
    rows = (
        AccountTariff.objects.filter(
            effective_from__lte=now,
            account__status=Account.Status.OPEN,
            account__tenant__site__in=tariffs.values("site"),
        )
        .order_by("account_id", "effective_from", "pk")
        .values_list("account_id", "tariff_id")
    )
    current: dict[int, int] = dict(rows.iterator())  # the last row of each account wins
    return Counter(current.values())


def tariff_rows(tariffs: QuerySet[Tariff]) -> list[TariffRow]:
    """Every tariff of ``tariffs`` with what the list page shows about it."""
    now = timezone.now()
    tariffs = tariffs.select_related("site").order_by("site__name", "name")
    counts = accounts_under(tariffs, now)
    last: dict[int, TariffRevision] = {}
    revisions = TariffRevision.objects.filter(tariff__in=tariffs).select_related("created_by")
    for revision in revisions.defer("document").order_by("tariff_id", "created_at", "pk"):
        last[revision.tariff_id] = revision
    rows = []
    for tariff in tariffs:
        versions, problem = versions_of(tariff, now)
        revision = last.get(tariff.pk)
        at = zoned(revision.created_at, site_zone(tariff.site)) if revision else ""
        rows.append(TariffRow(tariff, versions, counts[tariff.pk], revision, at, problem))
    return rows


def history(tariff: Tariff) -> list[RevisionRow]:
    """The tariff's revisions, newest first, with who made each and when (the site's zone)."""
    zone = site_zone(tariff.site)
    revisions = tariff.revisions.select_related("created_by").order_by("-created_at", "-pk")
    return [RevisionRow(r, zoned(r.created_at, zone, SECONDS)) for r in revisions]
