"""Reconciling meter-side points many at a time: one transaction and about 16 statements a chunk.

Reconciling one point reads the account lock, the meter's latest reading, the
mirror, the point's credit commands, two ledger balances and the prepaid
state, then writes a ledger entry, perhaps an event, the mirror and the
state: about twenty statements. Here a chunk of accounts shares each of them
— every read is one statement for the chunk (after its account rows are
locked, in id order, as everywhere), the entries go in by
:func:`pems.ledger.posting.post_many`, the mirrors and states by one write
each — so a pass over the plaza's 242 points runs about 200 statements, not
5,000 (docs/benchmarks.md: 8× faster).

The rules are :mod:`pems.billing.mirror`'s; one pair reconciled alone goes
through the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Max, Q
from django.utils import timezone

from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing import policy
from pems.billing.models import MeterCreditMirror
from pems.billing.settlement import commit_without_waiting_for_disk
from pems.control.models import Command, CommandKind, CommandStatus
from pems.core.bulk import update_many
from pems.devices.totals import total_wrap
from pems.domain.continuity import is_wrap
from pems.domain.money import Money
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger import chart
from pems.ledger.models import JournalEntry, LedgerAccount
from pems.ledger.posting import NewEntry, post_many
from pems.metering.models import EventKind, MeterEvent

log = logging.getLogger(__name__)

#: Accounts per transaction, as settlement's chunks: a cashier's sale on one of
#: them waits a few milliseconds at most.
CHUNK = 20

Pair = tuple[int, int]  # (account id, metering point id)

_CREDIT_CHANGES = [CommandKind.PUSH_CREDIT, CommandKind.CLEAR_CREDIT]
_IN_FLIGHT = [CommandStatus.PENDING, CommandStatus.SENT]
#: What a chunk reads of its points (their meters' numbers name them in drift events).
_POINT_READ = [
    "utility",
    "meter__number",
    "meter__model__code",
    "state__point",
    "state__read_at",
    "state__remaining_credit",
    "state__energy_total",
]
_MIRROR_FIELDS = ["read_at", "reported", "expected", "drift", "reconciled_at", "energy_total"]


@dataclass(frozen=True)
class Mirrored:
    """What reconciling one reading found; ``compared`` is False for a reading passed over."""

    read_at: datetime
    compared: bool
    expected: Decimal | None = None
    reported: Decimal | None = None
    usage_booked: Decimal = Decimal(0)
    drift: Decimal = Decimal(0)
    drift_flagged: bool = False


@dataclass(frozen=True)
class _CreditChanges:
    """What a point's credit commands say about its latest reading."""

    clearing: bool = False  # a clear is in flight
    pushing: Decimal | None = None  # the credit of the pushes in flight, if any
    confirmed_at: datetime | None = None  # the last push or clear confirmed


@dataclass(frozen=True)
class _Reading:
    """A due pair's reading to compare, with the mirror it moves."""

    account: Account
    point: MeteringPoint
    read_at: datetime
    reported: Decimal
    energy: Decimal | None
    mirror: MeterCreditMirror | None


def chunks(pairs: Sequence[Pair]) -> list[list[Pair]]:
    """``pairs`` in account order, cut into chunks of at most :data:`CHUNK` accounts."""
    cut: list[list[Pair]] = []
    accounts: set[int] = set()
    for pair in sorted(pairs):
        if pair[0] not in accounts and len(accounts) == CHUNK:
            accounts.clear()
        if not accounts:
            cut.append([])
        accounts.add(pair[0])
        cut[-1].append(pair)
    return cut


def reconcile_chunk(pairs: Sequence[Pair], actor: str) -> dict[Pair, Mirrored]:
    """Reconcile each pair's latest reading once; a pair with nothing new to take is left out.

    Call inside a transaction. Raises :class:`pems.ledger.posting.IdempotencyConflict`
    (the caller's transaction must then be abandoned) if an entry's key was used before.
    """
    commit_without_waiting_for_disk()
    accounts = _lock_accounts(sorted({account for account, _ in pairs}))
    points = _points(sorted({point for _, point in pairs}))
    mirrors = {
        (m.account_id, m.point_id): m
        for m in MeterCreditMirror.objects.filter(
            account_id__in=list(accounts), point_id__in=list(points)
        )
    }
    changes = _credit_changes(list(points))
    done: dict[Pair, Mirrored] = {}
    to_compare: list[_Reading] = []
    for pair in sorted(pairs):
        account, point = accounts.get(pair[0]), points.get(pair[1])
        state = getattr(point, "state", None) if point is not None else None
        if account is None or point is None or not account.is_open or state is None:
            continue
        if state.read_at is None or state.remaining_credit is None:
            continue  # the meter has not reported its credit yet
        mirror = mirrors.get(pair)
        if mirror is not None and mirror.read_at >= state.read_at:
            continue  # another run took this reading
        change = changes.get(point.pk, _CreditChanges())
        if change.clearing:
            continue  # the recall books this meter when its clear is confirmed
        if change.confirmed_at is not None and state.read_at <= change.confirmed_at:
            # The reading does not show that credit yet (or still shows what a clear
            # removed): the gap would be booked as usage, or flagged as drift.
            mirrors[pair] = _moved(mirror, account, point, state.read_at)
            done[pair] = Mirrored(state.read_at, compared=False)
            continue
        if _energy_fell(mirror, point, state.energy_total):
            # A meter answering zeros (a misread) would book its whole credit as spent: the
            # reading is passed over, and the next one is held to the same total.
            log.info(  # every sweep until it comes back: pems status counts such points
                "meter credit reading passed over: its energy total fell",
                extra={"point": point.pk, "meter": point.meter.number, "read_at": state.read_at},
            )
            mirrors[pair] = _moved(mirror, account, point, state.read_at)
            done[pair] = Mirrored(state.read_at, compared=False)
            continue
        to_compare.append(
            _Reading(
                account, point, state.read_at, state.remaining_credit, state.energy_total, mirror
            )
        )
    if to_compare:
        done |= _compare(to_compare, changes, mirrors, actor)
    _write_mirrors([mirrors[pair] for pair in done])
    return done


def _compare(
    found: list[_Reading],
    changes: dict[int, _CreditChanges],
    mirrors: dict[Pair, MeterCreditMirror],
    actor: str,
) -> dict[Pair, Mirrored]:
    """Book each reading's spending, flag new drift, and announce the alarm levels."""
    held_refs = {
        (r.account.pk, r.point.pk): chart.meter_credit_ref(r.account, r.point) for r in found
    }
    alarmed = _meter_side_only({r.account.pk: r.account for r in found})
    wallet_refs = {pk: chart.wallet_ref(account) for pk, account in alarmed.items()}
    read = chart.balances(*held_refs.values(), *wallet_refs.values())  # one statement
    held = dict(zip(held_refs, read[: len(held_refs)], strict=True))
    wallets = dict(zip(wallet_refs, read[len(held_refs) :], strict=True))
    # A reading's usage is booked once: a key already used (a mirror row lost) books nothing.
    used = _used_keys([usage_key(r.point.pk, r.read_at) for r in found])
    now = timezone.now()
    entries, events, credits = [], [], []
    done: dict[Pair, Mirrored] = {}
    for r in found:
        pair = (r.account.pk, r.point.pk)
        change = changes.get(r.point.pk, _CreditChanges())
        expected = held[pair] - (change.pushing or 0)
        spent = max(expected - r.reported, Decimal(0))
        if usage_key(r.point.pk, r.read_at) in used:
            spent = Decimal(0)
        elif spent:
            entries.append(_usage_entry(r, held_refs[pair], spent))
        # A push in flight may already be on the meter: what looks like drift may be it.
        drift = Decimal(0) if change.pushing is not None else max(r.reported - expected, Decimal(0))
        flagged = drift > (r.mirror.drift if r.mirror is not None else 0)
        if flagged:
            events.append(_drift_event(r.point, r.read_at, expected, r.reported, drift))
        mirrors[pair] = _seen(r, expected, drift, now)
        if r.account.pk in alarmed:
            # What the tenant can still use: the wallet, and what the meter holds by its own
            # account (drift included: the meter spends it before it trips).
            left = wallets[r.account.pk] + held[pair] - spent + drift
            credits.append((r.account, Money(left, r.account.tenant.site.currency)))
        done[pair] = Mirrored(r.read_at, True, expected, r.reported, spent, drift, flagged)
    post_many(entries, actor)
    MeterEvent.objects.bulk_create(events)
    policy.announce_alarms(credits, now)
    return done


def _lock_accounts(ids: list[int]) -> dict[int, Account]:
    locked = (
        Account.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tenant__site")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    return {account.pk: account for account in locked}


def _points(ids: list[int]) -> dict[int, MeteringPoint]:
    """The points with their meters and latest states (``point.state``)."""
    found = (
        MeteringPoint.objects.select_related("meter__model", "state")
        .filter(pk__in=ids)
        .only(*_POINT_READ)
    )
    return {point.pk: point for point in found.order_by("pk")}


def _credit_changes(point_ids: list[int]) -> dict[int, _CreditChanges]:
    """Per point with credit commands: a clear in flight, the pushes in flight, the last change."""
    in_flight = Q(status__in=_IN_FLIGHT)
    found = (
        Command.objects.filter(point_id__in=point_ids, kind__in=_CREDIT_CHANGES)
        .values("point_id")
        .annotate(
            clearing=Count("pk", filter=in_flight & Q(kind=CommandKind.CLEAR_CREDIT)),
            pushing=Count("pk", filter=in_flight & Q(kind=CommandKind.PUSH_CREDIT)),
            confirmed_at=Max("completed_at", filter=Q(status=CommandStatus.CONFIRMED)),
        )
        .order_by()
    )
    rows = list(found)
    pushed: dict[int, Decimal] = {}
    if any(row["pushing"] for row in rows):  # rare: read what those pushes carry
        pushes = Command.objects.filter(
            point_id__in=[row["point_id"] for row in rows if row["pushing"]],
            kind=CommandKind.PUSH_CREDIT,
            status__in=_IN_FLIGHT,
        )
        for point_id, payload in pushes.values_list("point_id", "payload"):
            pushed[point_id] = pushed.get(point_id, Decimal(0)) + Decimal(payload["amount"])
    return {
        row["point_id"]: _CreditChanges(
            bool(row["clearing"]), pushed.get(row["point_id"]), row["confirmed_at"]
        )
        for row in rows
    }


def _meter_side_only(accounts: dict[int, Account]) -> dict[int, Account]:
    """The accounts paying for no server-side point (else the wallet's policy announces alarms)."""
    server_side = AccountMeteringPoint.objects.filter(
        account_id__in=list(accounts),
        released_at__isnull=True,
        metering_point__fee_control=FeeControl.SERVER_SIDE,
    ).values_list("account_id", flat=True)
    with_server_side = set(server_side)
    return {pk: account for pk, account in accounts.items() if pk not in with_server_side}


def usage_key(point_pk: int, read_at: datetime) -> str:
    """The idempotency key of the entry booking what a meter spent up to one reading."""
    return f"meter-usage:{point_pk}:{read_at.isoformat()}"


def _used_keys(keys: list[str]) -> set[str]:
    found = JournalEntry.objects.filter(idempotency_key__in=keys)
    return set(found.values_list("idempotency_key", flat=True))


def _usage_entry(reading: _Reading, held: LedgerAccount, spent: Decimal) -> NewEntry:
    """What the meter spent since PEMS last knew, booked as revenue."""
    site = reading.account.tenant.site
    return NewEntry(
        site_id=site.pk,
        kind=JournalEntry.Kind.METER_USAGE,
        lines=[
            (held, Money(-spent, site.currency)),
            (chart.revenue_ref(site, reading.point.utility), Money(spent, site.currency)),
        ],
        idempotency_key=usage_key(reading.point.pk, reading.read_at),
        account_id=reading.account.pk,
        memo={
            "point": reading.point.pk,
            "reported": str(reading.reported),
            "read_at": reading.read_at.isoformat(),
        },
    )


def _drift_event(
    point: MeteringPoint, at: datetime, expected: Decimal, reported: Decimal, drift: Decimal
) -> MeterEvent:
    log.warning(
        "meter credit drift",
        extra={"point": point.pk, "meter": point.meter.number, "drift": str(drift)},
    )
    return MeterEvent(
        point=point,
        kind=EventKind.CREDIT_DRIFT,
        at=at,
        before={"expected": str(expected)},
        after={"meter": str(reported)},
        detail=f"meter {point.meter.number} holds {drift} more credit than PEMS sent",
    )


def _moved(
    mirror: MeterCreditMirror | None, account: Account, point: MeteringPoint, to: datetime
) -> MeterCreditMirror:
    """The mirror with its cursor at ``to`` and nothing compared (a new one compares nothing)."""
    if mirror is None:
        return MeterCreditMirror(account=account, point=point, read_at=to)
    mirror.read_at = to
    return mirror


def _seen(reading: _Reading, expected: Decimal, drift: Decimal, now: datetime) -> MeterCreditMirror:
    mirror = _moved(reading.mirror, reading.account, reading.point, reading.read_at)
    mirror.reported, mirror.expected = reading.reported, expected
    mirror.drift, mirror.reconciled_at = drift, now
    mirror.energy_total = reading.energy
    return mirror


def _energy_fell(
    mirror: MeterCreditMirror | None, point: MeteringPoint, energy: Decimal | None
) -> bool:
    """Whether the meter's total is below the one at the last reading compared (and not
    by its register wrapping round): credit cannot have been spent then."""
    if mirror is None or mirror.energy_total is None or energy is None:
        return False
    if energy >= mirror.energy_total:
        return False
    wrap = total_wrap(point.meter.model.code)
    return wrap is None or not is_wrap(mirror.energy_total, energy, wrap)


def _write_mirrors(mirrors: list[MeterCreditMirror]) -> None:
    MeterCreditMirror.objects.bulk_create([m for m in mirrors if m.pk is None])
    update_many([m for m in mirrors if m.pk is not None], _MIRROR_FIELDS)
