"""A room's page: live values, today's energy and money, 30 days of usage, ledger, commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from pems.accounts.models import Account
from pems.billing.jobs import Stuck, stuck, why_stuck
from pems.billing.models import MeterCreditMirror, PrepaidEvent, SettlementCursor
from pems.billing.policy import sites_keeping_power
from pems.billing.recall import Recall, latest_recall
from pems.billing.relays import open_account_of
from pems.billing.tariffs import tariff_at
from pems.console.access import site_of
from pems.console.chart import UsageChart, daily_usage, usage_chart
from pems.console.dashboard import local_day_start, site_today
from pems.console.display import DisplayState, credit_of, display_state, facts_of
from pems.control.models import Command
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.ledger.models import JournalEntry, LedgerAccount, Posting
from pems.metering.models import DailyFreeze, MeterEvent, PointState

CHART_DAYS = 30


@dataclass(frozen=True)
class PointDetail:
    point: MeteringPoint
    state: PointState | None
    account: Account | None
    display: DisplayState
    wallet: Decimal | None
    on_meter: Decimal | None  # credit PEMS sent a meter-side meter that it still holds
    credit: Decimal | None
    currency: str
    tariff: str
    thresholds: dict[str, Decimal]
    today_energy: Decimal | None
    today_money: Decimal | None
    chart: UsageChart
    recall: Recall | None = None  # the latest recall of a meter-side meter's credit
    mirror: MeterCreditMirror | None = None  # the meter's credit last held against the ledger
    charged_until: datetime | None = None  # a server-side point's settlement cursor
    stuck: Stuck | None = None  # why, when that cursor is far behind the latest reading


def _balances(account: Account | None) -> tuple[Decimal | None, Decimal | None]:
    if account is None:
        return None, None
    rows = LedgerAccount.objects.filter(account=account).values_list("kind", "balance")
    wallet = sum((b for k, b in rows if k == LedgerAccount.Kind.WALLET), Decimal("0.00"))
    held = sum((b for k, b in rows if k == LedgerAccount.Kind.METER_CREDIT), Decimal("0.00"))
    return wallet, held


def _chart(point: MeteringPoint, state: PointState | None) -> tuple[UsageChart, Decimal | None]:
    site = site_of(point)
    today = site_today(site)
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    totals = dict(
        DailyFreeze.objects.filter(point=point, day__gte=days[0]).values_list("day", "energy_total")
    )
    latest = state.energy_total if state is not None else None
    usage = daily_usage(totals, days, latest)
    return usage_chart(usage), usage[today]


def _today_money(point: MeteringPoint, account: Account | None) -> Decimal | None:
    """What today's consumption cost: settlement or meter-usage entries naming this point."""
    if account is None:
        return None
    site = site_of(point)
    charged = Posting.objects.filter(
        entry__account=account,
        entry__kind__in=[JournalEntry.Kind.SETTLEMENT, JournalEntry.Kind.METER_USAGE],
        entry__created_at__gte=local_day_start(site, site_today(site)),
        entry__memo__point=point.pk,
        ledger_account__kind=LedgerAccount.Kind.REVENUE,
    ).aggregate(total=Sum("amount"))["total"]
    return charged or Decimal("0.00")


def point_detail(point: MeteringPoint) -> PointDetail:
    state = PointState.objects.filter(point=point).first()
    account = open_account_of(point)
    wallet, held = _balances(account)
    chart, today_energy = _chart(point, state)
    tariff = tariff_at(account, timezone.now()) if account is not None else None
    kept = bool(sites_keeping_power([site_of(point).pk]))
    return PointDetail(
        point=point,
        state=state,
        account=account,
        display=display_state(facts_of(state, account, point.fee_control, wallet, kept)),
        wallet=wallet,
        on_meter=held,
        credit=credit_of(point.fee_control, state, wallet),
        currency=site_of(point).currency,
        tariff=tariff.name if tariff is not None else "",
        thresholds=account.effective_thresholds() if account is not None else {},
        today_energy=today_energy,
        today_money=_today_money(point, account),
        chart=chart,
        recall=latest_recall(point, account) if account is not None else None,
        mirror=MeterCreditMirror.objects.filter(account=account, point=point).first()
        if account is not None
        else None,
        **_charging(point, account, state),
    )


def _charging(
    point: MeteringPoint, account: Account | None, state: PointState | None
) -> dict[str, Any]:
    """Up to when the account was charged for a server-side point, and whether that is stuck
    (``billing.jobs.stuck``)."""
    if account is None or point.fee_control != FeeControl.SERVER_SIDE:
        return {}
    cursor = SettlementCursor.objects.filter(account=account, point=point).first()
    if cursor is None:
        return {}
    read_at = state.read_at if state is not None else None
    if not stuck(cursor.settled_until, read_at):
        return {"charged_until": cursor.settled_until}
    cursor.account, cursor.point = account, point  # why_stuck reads both
    # Why, as settlement would find it (a stuck point is rare: the reads are few).
    return {"charged_until": cursor.settled_until, "stuck": why_stuck(cursor)}


#: Entries a person made or a cashier asks about; settlements run every minute and would
#: push them off the page, so they show on request.
PAYMENTS = [
    JournalEntry.Kind.RECHARGE,
    JournalEntry.Kind.REFUND,
    JournalEntry.Kind.REVERSAL,
    JournalEntry.Kind.METER_RETURN,
    JournalEntry.Kind.CLOSING,
]


def ledger_entries(account: Account | None, everything: bool = True) -> QuerySet[JournalEntry]:
    """The account's entries, newest first, with the wallet's change and whether reversed."""
    if account is None:
        return JournalEntry.objects.none()
    entries = JournalEntry.objects.filter(account=account)
    if not everything:
        entries = entries.filter(kind__in=PAYMENTS)
    return entries.annotate(
        wallet_change=Sum(
            "postings__amount",
            filter=Q(postings__ledger_account__kind=LedgerAccount.Kind.WALLET),
        ),
        reversed=Exists(JournalEntry.objects.filter(reverses=OuterRef("pk"))),
    ).order_by("-created_at", "-pk")


def commands_of(point: MeteringPoint) -> QuerySet[Command]:
    return Command.objects.filter(point=point).order_by("-created_at", "-pk")


def meter_events_of(point: MeteringPoint) -> QuerySet[MeterEvent]:
    return MeterEvent.objects.filter(point=point).order_by("-at", "-pk")


def prepaid_events_of(account: Account | None) -> QuerySet[PrepaidEvent]:
    if account is None:
        return PrepaidEvent.objects.none()
    return PrepaidEvent.objects.filter(account=account).order_by("-at", "-pk")
