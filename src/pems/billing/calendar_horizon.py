"""Tariffs that will stop settling when the holiday calendar runs out, and how many accounts.

The pinned chinesecalendar knows public holidays up to :func:`last_known_year`.
A tariff that prices workdays, weekends and holidays differently, uses Chinese
holidays and has no ``fallback_to_weekends`` cannot price a day of a later year
(:class:`~pems.domain.errors.CalendarRangeError`): from that day on the settle
job logs "settlement blocked" for every account on it, so its tenants are no
longer charged and nobody is tripped at zero credit.

:func:`calendar_outlook` names those tariffs for a set of sites, from
1 November (``WARN_FROM_MONTH``) of the year before on, with the first day
each cannot price and the number of open accounts on it. The dashboard shows
it to the people who may revise tariffs, ``pems status`` prints it, and the
system check ``pems.W001`` uses the same dates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from pems.accounts.models import Account
from pems.billing.models import AccountTariff, Tariff
from pems.billing.tariffs import readable
from pems.domain.calendar import last_known_year
from pems.domain.tariff import Tariff as PricedTariff
from pems.inventory.models import Site

#: From this month on, next year's holidays should be installed.
WARN_FROM_MONTH = 11
_DAY = timedelta(days=1)
_INSTANT = timedelta(microseconds=1)


def first_unknown_day() -> date:
    """1 January of the first year the installed holiday calendar does not know."""
    return date(last_known_year() + 1, 1, 1)


def warns(today: date, first_unknown: date) -> bool:
    """Whether ``today`` is in the warning window: from 1 November of the year before on."""
    return today >= date(first_unknown.year - 1, WARN_FROM_MONTH, 1)


def stops_on(tariff: PricedTariff, first_unknown: date) -> date | None:
    """The first local day from ``first_unknown`` on that ``tariff`` cannot price, if any.

    That is the first day, in force under a version whose schedules for that
    day depend on the day type, that the tariff's calendar cannot tell: it
    uses Chinese holidays, has no fallback to weekends and no override for
    the day. Normally 1 January; later for a version that starts later, a
    season that alone depends on the day type, or a date given as an override.
    """
    calendar = tariff.calendar
    if not calendar.chinese_holidays or calendar.fallback_to_weekends:
        return None
    ends: list[datetime | None] = [*tariff.effective_instants[1:], None]
    for version, end in zip(tariff.versions, ends, strict=True):
        if version.tou is None:
            continue
        day = max(first_unknown, version.effective_from.astimezone(tariff.zone).date())
        last = None if end is None else (end - _INSTANT).astimezone(tariff.zone).date()
        # Seasons repeat every year: a year of days not overridden answers for every later one.
        for _ in range(366 + len(calendar.overrides)):
            if last is not None and day > last:
                break
            if day not in calendar.overrides and version.tou.needs_day_type(day):
                return day
            day += _DAY
    return None


@dataclass(frozen=True)
class StoppingTariff:
    """A tariff that stops settling on ``stops_on`` (site-local), with its open accounts."""

    tariff: Tariff
    stops_on: date
    open_accounts: int
    #: ``stops_on`` has come: the accounts on it have not been charged since.
    stopped: bool


@dataclass(frozen=True)
class CalendarOutlook:
    """The tariffs to act on, soonest first; empty outside the warning window."""

    known_until: int
    tariffs: tuple[StoppingTariff, ...]


def calendar_outlook(sites: Iterable[Site], today: date | None = None) -> CalendarOutlook:
    """Which tariffs of ``sites`` that open accounts pay under will stop settling, and when.

    ``today`` is the site-local date (each site's own when None). An account
    counts when its assignment to the tariff is in force on or after the day
    the tariff stops (an account moving to another tariff before then does
    not). Two queries for all the sites, none per account.
    """
    first_unknown = first_unknown_day()
    days = {
        site.pk: today or timezone.localdate(timezone=ZoneInfo(site.time_zone)) for site in sites
    }
    outlook = CalendarOutlook(first_unknown.year - 1, ())
    due = [pk for pk, day in days.items() if warns(day, first_unknown)]
    if not due:
        return outlook
    stopping: dict[int, tuple[Tariff, date, datetime]] = {}
    for tariff in Tariff.objects.filter(site__in=due).select_related("site"):
        parsed, _problem = readable(tariff)  # an unreadable document is reported elsewhere
        if parsed is not None and (day := stops_on(parsed, first_unknown)) is not None:
            stopping[tariff.pk] = (tariff, day, datetime.combine(day, time(0), parsed.zone))
    if not stopping:
        return outlook
    following = (
        AccountTariff.objects.filter(
            account=OuterRef("account"), effective_from__gt=OuterRef("effective_from")
        )
        .order_by("effective_from")
        .values("effective_from")[:1]
    )
    assignments = (
        AccountTariff.objects.filter(tariff__in=list(stopping), account__status=Account.Status.OPEN)
        .annotate(until=Subquery(following))
        .values_list("tariff_id", "account_id", "until")
    )
    accounts: dict[int, set[int]] = defaultdict(set)
    for tariff_id, account_id, until in assignments:
        if until is None or until > stopping[tariff_id][2]:
            accounts[tariff_id].add(account_id)
    found = [
        StoppingTariff(tariff, day, len(accounts[pk]), days[tariff.site_id] >= day)
        for pk, (tariff, day, _start) in stopping.items()
        if accounts[pk]
    ]
    found.sort(key=lambda s: (s.stops_on, s.tariff.site.name, s.tariff.name))
    return CalendarOutlook(outlook.known_until, tuple(found))
