"""`pems status`: reading freshness per site and gateway, offline points, the command queue,
how current the meter-side credit mirror and server-side settlement are, and tariffs the
holiday calendar is running out on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from pems.billing import mirror
from pems.billing.calendar_horizon import calendar_outlook
from pems.billing.jobs import STUCK_AFTER, settlement_health
from pems.collector.health import command_health, gateway_health
from pems.inventory.models import Site


def _age(age: timedelta | None) -> str:
    return "never" if age is None else f"{age.total_seconds():.0f} s"


def _open_accounts(count: int) -> str:
    return f"{count} open account{'' if count == 1 else 's'}"


class Command(BaseCommand):
    help = (
        "Show reading freshness, offline points, the command queue, meter-side credit and "
        "tariffs that will stop settling, or price holidays as plain days, when the holiday "
        "calendar runs out."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        rows = gateway_health()
        sites: dict[str, list[Any]] = {}
        for row in rows:
            sites.setdefault(row.site, []).append(row)
        for site, gateways in sites.items():
            ages = [g.oldest_age(now) for g in gateways if g.points]
            known = [a for a in ages if a is not None]
            worst = max(known) if known and len(known) == len(ages) else None
            points = sum(g.points for g in gateways)
            online = sum(g.online for g in gateways)
            self.stdout.write(
                f"{site}: {points} points, {online} online, {points - online} offline or unread; "
                f"oldest reading {_age(worst)}"
            )
            for g in gateways:
                sweep = f"{g.last_sweep_ms} ms" if g.last_sweep_ms is not None else "-"
                self.stdout.write(
                    f"  {g.name:<16} {g.endpoint:<22} {g.online:>4}/{g.points:<4} online  "
                    f"never read {g.never_read:<4} oldest {_age(g.oldest_age(now)):>8}  "
                    f"last sweep {sweep}"
                )
        if not rows:
            self.stdout.write("No enabled gateways.")
        commands = command_health()
        latency = (
            f"{commands.median_latency.total_seconds():.2f} s"
            if commands.median_latency is not None
            else "-"
        )
        self.stdout.write(
            f"Commands: {commands.pending} pending, {commands.sent} sent awaiting confirmation, "
            f"{commands.failed_last_day} failed in the last day; median latency {latency}"
        )
        credit = mirror.health()
        if credit.points:
            self.stdout.write(
                f"Meter-side credit: {credit.points} points, {credit.behind} read since their "
                f"last reconciliation (pems settle takes them), {credit.drifting} holding credit "
                f"PEMS did not send, {credit.fallen} whose total fell below the last one "
                "reconciled (their readings wait: a misread, or an exchange to record)"
            )
        settling = settlement_health()
        if settling.points:
            furthest = ""
            if settling.furthest is not None:
                point, meter, until = settling.furthest
                furthest = (
                    f"; the furthest: point {point} (meter {meter}) settled up to "
                    f"{until.isoformat()}, pems settle logs why"
                )
            self.stdout.write(
                f"Server-side settlement: {settling.points} points, {settling.stuck} more than "
                f"{STUCK_AFTER // timedelta(hours=1)} h behind their latest reading{furthest}"
            )
        outlook = calendar_outlook(Site.objects.all())
        for stop in outlook.tariffs:
            day = stop.stops_on.isoformat()
            state = f"has not settled since {day}" if stop.stopped else f"stops settling on {day}"
            accounts = _open_accounts(stop.open_accounts)
            self.stdout.write(
                f'Holiday calendar: tariff "{stop.tariff.name}" at {stop.tariff.site.name} '
                f"{state} for {accounts}; chinesecalendar knows holidays up to "
                f"{outlook.known_until} only (revise the tariff: fallback_to_weekends = true and "
                "the year's holidays and make-up workdays, or upgrade chinesecalendar)"
            )
        for fall in outlook.falling_back:
            accounts = _open_accounts(fall.open_accounts)
            self.stdout.write(
                f'Holiday calendar: tariff "{fall.tariff.name}" at {fall.tariff.site.name} '
                "keeps settling but prices holidays and make-up workdays as plain weekdays and "
                f"weekends from {fall.falls_back_on.isoformat()} for {accounts}; chinesecalendar "
                f"knows holidays up to {outlook.known_until} only (revise the tariff: add the "
                "year's holidays and make-up workdays as [calendar] holidays and workdays, or "
                "upgrade chinesecalendar)"
            )
