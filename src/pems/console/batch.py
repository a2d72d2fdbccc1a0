"""Batch actions on the grid's selection: plan (who takes part, who is skipped and why), then run.

The plan is shown on the confirmation page; running it queues every command
in one transaction, so a refusal half-way leaves nothing queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pems.access.roles import Capability
from pems.billing import meter_settings
from pems.billing.meter_settings import MeterSettingRefused
from pems.console import operations
from pems.control.models import Command
from pems.inventory.models import MeteringPoint


@dataclass(frozen=True)
class BatchAction:
    name: str
    label: Any
    capability: Capability
    explanation: Any
    danger: bool = False


BATCH_ACTIONS = {
    action.name: action
    for action in (
        BatchAction(
            "push-prices",
            _("Push prices"),
            Capability.CONTROL,
            _("Each meter-side meter gets the four rates of its account's tariff in force."),
        ),
        BatchAction(
            "push-thresholds",
            _("Push thresholds"),
            Capability.CONTROL,
            _("Each meter-side meter gets its account's alarm thresholds and overdraft limit."),
        ),
        BatchAction(
            "keep-power",
            _("Keep power on"),
            Capability.CONTROL,
            _("The supply stays on whatever the credit, until prepaid control is resumed."),
        ),
        BatchAction(
            "resume-prepaid",
            _("Resume prepaid"),
            Capability.CONTROL,
            _("Keep-power and forced states end; the credit decides the supply again."),
        ),
        BatchAction(
            "trip",
            _("Trip"),
            Capability.CONTROL,
            _("Every selected meter switches its supply off."),
            danger=True,
        ),
    )
}


def _runner(name: str) -> Callable[[MeteringPoint, Any, str, str], Command]:
    if name == "push-prices":
        return operations.push_prices
    if name == "push-thresholds":
        return operations.push_thresholds
    return lambda point, actor, reason, key: operations.relay(point, name, actor, reason, key)


@dataclass(frozen=True)
class PlanRow:
    point: MeteringPoint
    skipped: str  # why this point is left out ("" when it takes part)


def plan(name: str, points: list[MeteringPoint]) -> list[PlanRow]:
    """Who takes part: price and threshold pushes need a meter-side point with an account."""
    rows = []
    for point in points:
        skipped = ""
        if name in ("push-prices", "push-thresholds"):
            try:
                account = meter_settings.meter_side_account(point)
                if name == "push-prices":
                    meter_settings.meter_prices(account, timezone.now())
            except MeterSettingRefused as exc:
                skipped = str(exc)
        rows.append(PlanRow(point, skipped))
    return rows


@transaction.atomic
def run(name: str, points: list[MeteringPoint], actor: Any, reason: str, key: str) -> int:
    """Queue the action for every point that takes part; returns how many commands."""
    runner = _runner(name)
    count = 0
    for row in plan(name, points):
        if not row.skipped:
            runner(row.point, actor, reason, key)
            count += 1
    return count
