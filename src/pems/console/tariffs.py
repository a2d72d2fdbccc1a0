"""The tariff pages' view of tariffs: versions and their state, accounts, last revision.

Only reads; creating and revising are :mod:`pems.billing.tariffs`' actions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from pems.accounts.models import Account
from pems.billing.models import AccountTariff, Tariff, TariffRevision
from pems.billing.tariffs import priced
from pems.domain.errors import DomainError


@dataclass(frozen=True)
class VersionRow:
    """One version of a tariff document and where it stands now."""

    id: str
    effective_from: datetime
    state: str  # "superseded", "in-force" or "scheduled"

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
    problem: str = ""  # a stored document the parser no longer accepts


def versions_of(tariff: Tariff, now: datetime | None = None) -> tuple[tuple[VersionRow, ...], str]:
    """The tariff's versions, oldest first, and a problem if its document does not parse."""
    now = now or timezone.now()
    try:
        versions = sorted(priced(tariff).versions, key=lambda v: v.effective_from)
    except DomainError as error:
        return (), error.message.text(_)
    started = [v for v in versions if v.effective_from <= now]
    current = started[-1].id if started else None
    rows = tuple(
        VersionRow(
            v.id,
            v.effective_from,
            "scheduled"
            if v.effective_from > now
            else ("in-force" if v.id == current else "superseded"),
        )
        for v in versions
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
        rows.append(TariffRow(tariff, versions, counts[tariff.pk], last.get(tariff.pk), problem))
    return rows


def history(tariff: Tariff) -> Any:
    """The tariff's revisions, newest first, with who made each."""
    return tariff.revisions.select_related("created_by").order_by("-created_at", "-pk")
