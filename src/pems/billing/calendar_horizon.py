"""Tariffs the holiday calendar running out concerns, and how many accounts.

The pinned chinesecalendar knows public holidays up to :func:`last_known_year`.
A tariff that prices workdays, weekends and holidays differently, uses Chinese
holidays and has no ``fallback_to_weekends`` cannot price a day of a later year
(:class:`~pems.domain.errors.CalendarRangeError`): from that day on the settle
job logs "settlement blocked" for every account on it, so its tenants are no
longer charged and nobody is tripped at zero credit.

Such a tariff *with* ``fallback_to_weekends`` keeps settling, but counts that
year's public holidays and make-up workdays (调休) as plain weekdays and
weekends until someone adds them to its ``[calendar]`` as ``holidays`` and
``workdays``; an override dated in that year means they have been added.

:func:`calendar_outlook` names both kinds for a set of sites, from
1 November (``WARN_FROM_MONTH``) of the year before on, with the first day
concerned and the number of open accounts on each. The dashboard shows it to
the people who may revise tariffs, ``pems status`` prints it, and the system
check ``pems.W001`` uses the same dates.
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


def _first_day_type_day(tariff: PricedTariff, first_unknown: date) -> date | None:
    """The first local day from ``first_unknown`` on whose price depends on its day type.

    That is a day in force under a version whose schedules for that day depend
    on the day type, and not given as a calendar override.
    """
    overrides = tariff.calendar.overrides
    ends: list[datetime | None] = [*tariff.effective_instants[1:], None]
    for version, end in zip(tariff.versions, ends, strict=True):
        if version.tou is None:
            continue
        day = max(first_unknown, version.effective_from.astimezone(tariff.zone).date())
        last = None if end is None else (end - _INSTANT).astimezone(tariff.zone).date()
        # Seasons repeat every year: a year of days not overridden answers for every later one.
        for _ in range(366 + len(overrides)):
            if last is not None and day > last:
                break
            if day not in overrides and version.tou.needs_day_type(day):
                return day
            day += _DAY
    return None


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
    return _first_day_type_day(tariff, first_unknown)


def falls_back_on(tariff: PricedTariff, first_unknown: date) -> date | None:
    """The first local day from ``first_unknown`` on that ``tariff`` prices by plain weekends.

    For a tariff that uses Chinese holidays with ``fallback_to_weekends``: the
    first day :func:`stops_on` would name without the fallback, unless the
    calendar has an override dated in that day's year (the year's holidays and
    make-up workdays have been entered). Until they are, that year's public
    holidays and make-up workdays are priced as ordinary weekdays and weekends.
    """
    calendar = tariff.calendar
    if not calendar.chinese_holidays or not calendar.fallback_to_weekends:
        return None
    day = _first_day_type_day(tariff, first_unknown)
    if day is None or any(entered.year == day.year for entered in calendar.overrides):
        return None
    return day


@dataclass(frozen=True)
class StoppingTariff:
    """A tariff that stops settling on ``stops_on`` (site-local), with its open accounts."""

    tariff: Tariff
    stops_on: date
    open_accounts: int
    #: ``stops_on`` has come: the accounts on it have not been charged since.
    stopped: bool


@dataclass(frozen=True)
class FallingBackTariff:
    """A tariff that keeps settling but, from ``falls_back_on`` (site-local), prices the
    year's public holidays and make-up workdays as plain days; with its open accounts."""

    tariff: Tariff
    falls_back_on: date
    open_accounts: int


@dataclass(frozen=True)
class CalendarOutlook:
    """The tariffs to act on, soonest first; both empty outside the warning window."""

    known_until: int
    #: Tariffs that stop settling.
    tariffs: tuple[StoppingTariff, ...]
    #: Tariffs that fall back to plain weekends and still lack the year's dates.
    falling_back: tuple[FallingBackTariff, ...] = ()


def calendar_outlook(sites: Iterable[Site], today: date | None = None) -> CalendarOutlook:
    """Which tariffs of ``sites`` that open accounts pay under will stop settling, or fall
    back to plain weekends without the year's dates, and from when.

    ``today`` is the site-local date (each site's own when None). An account
    counts when its assignment to the tariff is in force on or after the day
    concerned (an account moving to another tariff before then does not). Two
    queries for all the sites, none per account.
    """
    first_unknown = first_unknown_day()
    days = {
        site.pk: today or timezone.localdate(timezone=ZoneInfo(site.time_zone)) for site in sites
    }
    outlook = CalendarOutlook(first_unknown.year - 1, ())
    due = [pk for pk, day in days.items() if warns(day, first_unknown)]
    if not due:
        return outlook
    # tariff pk -> (tariff, first day concerned, its start, whether it falls back)
    concerned: dict[int, tuple[Tariff, date, datetime, bool]] = {}
    for tariff in Tariff.objects.filter(site__in=due).select_related("site"):
        parsed, _problem = readable(tariff)  # an unreadable document is reported elsewhere
        if parsed is None:
            continue
        day = stops_on(parsed, first_unknown)
        falls_back = day is None
        if falls_back:
            day = falls_back_on(parsed, first_unknown)
        if day is not None:
            start = datetime.combine(day, time(0), parsed.zone)
            concerned[tariff.pk] = (tariff, day, start, falls_back)
    if not concerned:
        return outlook
    following = (
        AccountTariff.objects.filter(
            account=OuterRef("account"), effective_from__gt=OuterRef("effective_from")
        )
        .order_by("effective_from")
        .values("effective_from")[:1]
    )
    assignments = (
        AccountTariff.objects.filter(
            tariff__in=list(concerned), account__status=Account.Status.OPEN
        )
        .annotate(until=Subquery(following))
        .values_list("tariff_id", "account_id", "until")
    )
    accounts: dict[int, set[int]] = defaultdict(set)
    for tariff_id, account_id, until in assignments:
        if until is None or until > concerned[tariff_id][2]:
            accounts[tariff_id].add(account_id)
    stopping: list[StoppingTariff] = []
    falling_back: list[FallingBackTariff] = []
    for pk, (tariff, day, _start, falls_back) in concerned.items():
        if not accounts[pk]:
            continue
        if falls_back:
            falling_back.append(FallingBackTariff(tariff, day, len(accounts[pk])))
        else:
            stopping.append(
                StoppingTariff(tariff, day, len(accounts[pk]), days[tariff.site_id] >= day)
            )
    stopping.sort(key=lambda s: (s.stops_on, s.tariff.site.name, s.tariff.name))
    falling_back.sort(key=lambda f: (f.falls_back_on, f.tariff.site.name, f.tariff.name))
    return CalendarOutlook(outlook.known_until, tuple(stopping), tuple(falling_back))
