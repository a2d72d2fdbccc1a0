"""The dashboard's figures for the sites a person sees: state counts, money, energy, freshness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, ExpressionWrapper, F, Max, Min, Q, Sum
from django.utils import timezone

from pems.access.roles import Capability
from pems.access.scope import scoped
from pems.billing.calendar_horizon import CalendarOutlook, calendar_outlook
from pems.billing.jobs import stuck_cursors, why_stuck
from pems.console.access import installed_points, sites_where
from pems.console.display import DisplayState, counted
from pems.console.grid import GridFilter, build_grid
from pems.control.models import Command, CommandStatus
from pems.inventory.models import MeteringPoint, Site
from pems.ledger.models import JournalEntry, LedgerAccount, Posting
from pems.metering.models import DailyFreeze, PointState, energy_field


@dataclass(frozen=True)
class SiteFigures:
    """One site's day so far."""

    site: Site
    sales_count: int
    sales_amount: Decimal
    energy_today: Decimal


@dataclass(frozen=True)
class StuckCharging:
    """Server-side points whose use is not being charged (``billing.jobs.stuck_cursors``):
    how many, and the furthest behind (at most ``STUCK_SHOWN``) with where they stopped and
    why (``billing.jobs.why_stuck``)."""

    total: int
    points: list[tuple[MeteringPoint, datetime, str]]


#: Stuck points named on the dashboard; the rest are counted.
STUCK_SHOWN = 10


@dataclass(frozen=True)
class Dashboard:
    points: int
    online: int
    offline: int
    counts: dict[str, int]
    sites: list[SiteFigures]
    newest_reading: datetime | None
    oldest_online_reading: datetime | None
    commands_pending: int
    commands_failed_day: int
    #: Tariffs the holiday calendar is running out on, for the sites where the person
    #: may revise tariffs (empty for everyone else, and while all is well).
    calendar: CalendarOutlook
    #: Server-side points settlement is stuck on, where the person can act.
    stuck: StuckCharging

    def age(self, instant: datetime | None) -> int | None:
        """Seconds since ``instant`` (None when there is nothing yet)."""
        if instant is None:
            return None
        return int((timezone.now() - instant).total_seconds())

    @property
    def state_counts(self) -> list[tuple[DisplayState, int]]:
        return counted(self.counts)

    @property
    def newest_age(self) -> int | None:
        return self.age(self.newest_reading)

    @property
    def oldest_online_age(self) -> int | None:
        return self.age(self.oldest_online_reading)


def local_day_start(site: Site, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(site.time_zone))


def site_today(site: Site) -> date:
    return timezone.localdate(timezone=ZoneInfo(site.time_zone))


def _site_figures(site: Site, user: Any) -> SiteFigures:
    today = site_today(site)
    since = local_day_start(site, today)
    # A sale's money comes in through a clearing account: the negated posting is the amount paid.
    sales = Posting.objects.filter(
        entry__site=site,
        entry__kind=JournalEntry.Kind.RECHARGE,
        entry__created_at__gte=since,
        ledger_account__kind=LedgerAccount.Kind.CLEARING,
    ).aggregate(count=Count("entry", distinct=True), amount=Sum("amount"))
    # Today's energy: the latest total minus the first good reading of the local day, per
    # point. A point whose total has fallen below it since counts nothing: a misread until
    # the meter comes back, a new meter until tomorrow (the room page's chart draws no bar
    # across a fall either).
    used = ExpressionWrapper(
        F("point__state__energy_total") - F("energy_total"), output_field=energy_field("used")
    )
    energy = scoped(DailyFreeze.objects.all(), user).filter(
        day=today,
        point__meter__gateway__site=site,
        point__state__energy_total__gte=F("energy_total"),
    )
    total = energy.aggregate(total=Sum(used))["total"]
    return SiteFigures(
        site=site,
        sales_count=sales["count"] or 0,
        sales_amount=-(sales["amount"] or Decimal(0)),
        energy_today=total or Decimal("0.000"),
    )


def site_figures(user: Any, sites: list[Site]) -> list[SiteFigures]:
    return [_site_figures(site, user) for site in sites]


def calendar_warning(user: Any, sites: list[Site]) -> CalendarOutlook:
    """What the holiday calendar running out means for the tariffs of ``sites`` the user
    may revise (``Capability.TARIFF``, the tariff pages' own)."""
    shown = {site.pk for site in sites}
    return calendar_outlook(
        site for site in sites_where(user, Capability.TARIFF) if site.pk in shown
    )


def stuck_charging(user: Any, sites: list[Site]) -> StuckCharging:
    """The stuck server-side points of ``sites`` where the user can act on them: record a
    meter exchange or revise a tariff."""
    shown = {site.pk for site in sites}
    acting = {
        site.pk
        for capability in (Capability.REPLACE_METER, Capability.TARIFF)
        for site in sites_where(user, capability)
    }
    if not shown & acting:
        return StuckCharging(0, [])
    cursors = stuck_cursors(shown & acting).select_related("account", "point__meter", "point__room")
    shown_cursors = cursors[:STUCK_SHOWN]  # a stuck point is rare: reading why is cheap
    return StuckCharging(
        cursors.count(), [(c.point, c.settled_until, why_stuck(c).reason) for c in shown_cursors]
    )


def build_dashboard(user: Any, sites: list[Site], site_filter: int | None) -> Dashboard:
    grid = build_grid(user, GridFilter(site=site_filter))
    states = scoped(PointState.objects.all(), user).filter(
        point__in=installed_points(user).values("pk")
    )
    if site_filter is not None:
        states = states.filter(point__meter__gateway__site_id=site_filter)
    fresh = states.aggregate(
        newest=Max("read_at"),
        oldest=Min("read_at", filter=Q(online=True)),
        online=Count("pk", filter=Q(online=True, read_at__isnull=False)),
    )
    commands = scoped(Command.objects.all(), user)
    if site_filter is not None:
        commands = commands.filter(point__meter__gateway__site_id=site_filter)
    since = timezone.now() - timedelta(days=1)
    queue = commands.aggregate(
        pending=Count("pk", filter=Q(status__in=[CommandStatus.PENDING, CommandStatus.SENT])),
        failed=Count("pk", filter=Q(status=CommandStatus.FAILED, completed_at__gte=since)),
    )
    points = len(grid.tiles)
    return Dashboard(
        points=points,
        online=fresh["online"],
        offline=points - fresh["online"],
        counts=dict(grid.counts),
        sites=site_figures(user, sites),
        newest_reading=fresh["newest"],
        oldest_online_reading=fresh["oldest"],
        commands_pending=queue["pending"],
        commands_failed_day=queue["failed"],
        calendar=calendar_warning(user, sites),
        stuck=stuck_charging(user, sites),
    )
