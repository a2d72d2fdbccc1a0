"""The monitor grid: every visible metering point as a tile, in a fixed number of queries.

Three queries whatever the number of points: the points with their meter,
room and latest state (one join), their open accounts (one prefetch), and the
wallets of those accounts. A filter narrows the first query; the state filter
is applied to the computed tiles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import QueryDict

from pems.access.scope import scoped, visible_sites
from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing.policy import sites_keeping_power
from pems.console.access import installed_points
from pems.console.display import DisplayState, counted, credit_of, display_state, facts_of
from pems.control.models import Command, CommandStatus
from pems.inventory.choices import LocationKind
from pems.inventory.models import Location, MeteringPoint, Site
from pems.ledger.models import LedgerAccount
from pems.metering.models import PointState


def _as_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@dataclass(frozen=True)
class GridFilter:
    """The monitor's filters, as they travel in the query string."""

    site: int | None = None
    building: int | None = None
    shaft: int | None = None
    floor: int | None = None
    q: str = ""
    state: str = ""

    @classmethod
    def from_query(cls, query: QueryDict) -> GridFilter:
        state = query.get("state", "")
        return cls(
            site=_as_int(query.get("site")),
            building=_as_int(query.get("building")),
            shaft=_as_int(query.get("shaft")),
            floor=_as_int(query.get("floor")),
            q=query.get("q", "").strip()[:100],
            state=state if state in DisplayState.values else "",
        )

    def apply(self, points: QuerySet[MeteringPoint]) -> QuerySet[MeteringPoint]:
        if self.site is not None:
            points = points.filter(meter__gateway__site_id=self.site)
        for location in (self.building, self.shaft, self.floor):
            if location is not None:
                points = points.filter(_inside(location))
        if self.q:
            points = points.filter(_matching(self.q))
        return points


def _inside(location: int) -> Q:
    """Points whose room, or whose meter's place, lies in the location's subtree (3 levels)."""
    query = Q()
    for path in ("room", "meter__location"):
        for depth in range(3):
            query |= Q(**{f"{path}{'__parent' * depth}_id": location})
    return query


def _matching(text: str) -> Q:
    """Search by room, point name, meter number (the box's or the circuit's) or tenant."""
    tenant = AccountMeteringPoint.objects.filter(
        metering_point=OuterRef("pk"),
        released_at__isnull=True,
        account__tenant__name__icontains=text,
    )
    return (
        Q(room__name__icontains=text)
        | Q(name__icontains=text)
        | Q(meter__number__icontains=text)
        | Q(number__icontains=text)
        | Exists(tenant)
    )


@dataclass(frozen=True)
class Tile:
    """One metering point as the grid shows it."""

    point: MeteringPoint
    state: DisplayState
    account: Account | None
    credit: Decimal | None
    currency: str
    busy: bool
    state_label: str  # translated once per grid, not once per tile

    @property
    def point_state(self) -> PointState | None:
        return getattr(self.point, "state", None)

    @property
    def label(self) -> str:
        point = self.point
        if point.room_id is not None:
            return point.room.name
        return point.name or point.meter_number

    @property
    def tenant(self) -> str:
        return self.account.tenant.name if self.account is not None else ""

    @property
    def power(self) -> Decimal | None:
        state = self.point_state
        return state.active_power if state is not None else None

    def as_json(self) -> dict[str, Any]:
        """What the live refresh needs; decimals travel as strings, never floats."""
        return {
            "id": self.point.pk,
            "state": self.state.value,
            "state_label": self.state_label,
            "credit": None if self.credit is None else str(self.credit),
            "power": None if self.power is None else str(self.power),
            "tenant": self.tenant,
            "busy": self.busy,
        }


@dataclass(frozen=True)
class Grid:
    tiles: list[Tile]
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def state_counts(self) -> list[tuple[DisplayState, int]]:
        return counted(self.counts)


def points_for_grid(user: Any, grid_filter: GridFilter) -> QuerySet[MeteringPoint]:
    open_links = AccountMeteringPoint.objects.filter(
        released_at__isnull=True, account__status=Account.Status.OPEN
    ).select_related("account__tenant__site")
    in_flight = Command.objects.filter(
        point=OuterRef("pk"), status__in=[CommandStatus.PENDING, CommandStatus.SENT]
    )
    return (
        grid_filter.apply(installed_points(user))
        .select_related("meter__gateway__site", "room", "state")
        .prefetch_related(Prefetch("account_links", queryset=open_links, to_attr="open_links"))
        .annotate(busy=Exists(in_flight))
        .order_by("meter__gateway__site__name", "room__name", "meter__number", "circuit")
    )


def build_grid(user: Any, grid_filter: GridFilter) -> Grid:
    points = list(points_for_grid(user, grid_filter))
    account_ids = [p.open_links[0].account_id for p in points if p.open_links]
    wallets = dict(
        LedgerAccount.objects.filter(
            kind=LedgerAccount.Kind.WALLET, account_id__in=account_ids
        ).values_list("account_id", "balance")
    )
    labels = {state: str(state.label) for state in DisplayState}
    keeping = sites_keeping_power({p.meter.gateway.site_id for p in points})
    tiles = []
    for point in points:
        account = point.open_links[0].account if point.open_links else None
        state = getattr(point, "state", None)
        wallet = wallets.get(account.pk, Decimal("0.00")) if account is not None else None
        kept = point.meter.gateway.site_id in keeping
        shown = display_state(facts_of(state, account, point.fee_control, wallet, kept))
        tiles.append(
            Tile(
                point=point,
                state=shown,
                state_label=labels[shown],
                account=account,
                credit=credit_of(point.fee_control, state, wallet),
                currency=point.meter.gateway.site.currency,
                busy=point.busy,
            )
        )
    counts = Counter(tile.state.value for tile in tiles)
    if grid_filter.state:
        tiles = [t for t in tiles if t.state == grid_filter.state]
    return Grid(tiles, counts)


@dataclass(frozen=True)
class FilterChoices:
    """The options of the monitor's filter selects."""

    sites: list[Site]
    buildings: list[Location]
    shafts: list[Location]
    floors: list[Location]


def filter_choices(user: Any, site: int | None) -> FilterChoices:
    locations = scoped(Location.objects.all(), user).select_related("parent")
    if site is not None:
        locations = locations.filter(site_id=site)
    by_kind: dict[str, list[Location]] = {}
    for location in locations.exclude(kind=LocationKind.ROOM).order_by("name"):
        by_kind.setdefault(location.kind, []).append(location)
    return FilterChoices(
        sites=list(visible_sites(user)),
        buildings=by_kind.get(LocationKind.BUILDING, []) + by_kind.get(LocationKind.GARAGE, []),
        shafts=by_kind.get(LocationKind.SHAFT, []),
        floors=by_kind.get(LocationKind.FLOOR, []),
    )
