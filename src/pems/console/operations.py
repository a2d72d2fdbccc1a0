"""What a console user can start, composed from the domain actions (no rule lives here).

Money goes through ``pems.billing.actions`` / ``pems.accounts.actions``,
tariffs through ``pems.billing.tariffs``, relays and meter settings through
``pems.control.actions.enqueue``; each of those audits itself with the actor
and the reason. Composite operations run in one transaction.

Relay orders (trip, close, keep-power, resume prepaid) are
``pems.billing.relays.order_relay``, shared with the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pems.accounts import actions as accounts
from pems.accounts.models import Account, Tenant
from pems.billing import actions as billing
from pems.billing import meter_settings, recall, relays, site_defaults, takeover
from pems.billing.credit import CreditError
from pems.billing.meter_settings import MeterSettingRefused
from pems.billing.models import Tariff
from pems.billing.relays import RelayRefused
from pems.billing.replacement import FinalReading, Replacement, replace_meter
from pems.billing.settlement import SettlementBlocked
from pems.billing.tariffs import TariffChangeRefused
from pems.control import actions as control
from pems.control.models import Command, CommandKind
from pems.domain.errors import DomainError
from pems.domain.money import Money
from pems.inventory.models import MeteringPoint, Site
from pems.ledger.models import JournalEntry
from pems.ledger.posting import LedgerError


class OperationRefused(MeterSettingRefused):
    """The operation cannot be done as asked; the message tells the person why."""


#: Every refusal a domain action may answer with; the console shows the message
#: next to the form and nothing has changed (each action runs in one transaction).
REFUSALS: tuple[type[Exception], ...] = (
    MeterSettingRefused,  # and OperationRefused
    RelayRefused,
    accounts.AccountActionError,
    LedgerError,
    CreditError,
    TariffChangeRefused,
    control.IdempotencyConflict,
    DomainError,
    ValidationError,
)

#: Commands a person may cancel while pending; a credit push goes with its sale's reversal.
CANCELLABLE = [
    CommandKind.TRIP,
    CommandKind.CLOSE,
    CommandKind.KEEP_POWER_ON,
    CommandKind.KEEP_POWER_OFF,
    CommandKind.RESUME_PREPAID,
    CommandKind.SET_PRICES,
    CommandKind.SET_ALARMS,
    CommandKind.TIME_SYNC,
]

#: The relay commands a person can send one point, by their console name.
RELAY_COMMANDS = {
    "trip": CommandKind.TRIP,
    "close": CommandKind.CLOSE,
    "keep-power": CommandKind.KEEP_POWER_ON,
    "resume-prepaid": CommandKind.RESUME_PREPAID,
}


def command_key(key: str, point: MeteringPoint, kind: str) -> str:
    """The idempotency key of a console command: one per form, point and kind."""
    return f"console:{key}:{point.pk}:{kind}"[:100]


def relay(point: MeteringPoint, name: str, actor: Any, reason: str, key: str) -> Command:
    """Trip, close, keep power or resume prepaid control of one point."""
    kind = RELAY_COMMANDS[name]
    return relays.order_relay(point, kind, actor, reason, command_key(key, point, kind))


def push_prices(
    point: MeteringPoint, actor: Any, reason: str, key: str, at: datetime | None = None
) -> Command:
    """Queue the tariff's rates to a meter-side meter (not before ``at`` when given)."""
    command = command_key(key, point, CommandKind.SET_PRICES)
    return meter_settings.push_prices(point, actor, reason, command, at=at)


def push_thresholds(point: MeteringPoint, actor: Any, reason: str, key: str) -> Command:
    """Queue the account's alarm thresholds and overdraft limit to a meter-side meter."""
    command = command_key(key, point, CommandKind.SET_ALARMS)
    return meter_settings.push_thresholds(point, actor, reason, command)


def set_thresholds(
    account: Account, values: dict[str, Decimal | None], actor: Any, reason: str, key: str
) -> list[Command]:
    """Change the thresholds, let the policy judge the balance again, tell meter-side meters."""
    return meter_settings.set_thresholds(
        account, values, actor, reason, lambda p: command_key(key, p, CommandKind.SET_ALARMS)
    )


def set_site_thresholds(
    site: Site, values: dict[str, Decimal], actor: Any, reason: str, key: str
) -> list[Command]:
    """Change a site's defaults; tell the meter-side meters that hold a changed one."""
    return site_defaults.set_site_thresholds(
        site, values, actor, reason, lambda point: command_key(key, point, CommandKind.SET_ALARMS)
    )


def set_tariff(
    account: Account, tariff: Tariff, effective_from: datetime, actor: Any, reason: str, key: str
) -> list[Command]:
    """Assign the tariff; meter-side meters get its rates when it takes effect."""
    _assignment, commands = meter_settings.set_tariff(
        account,
        tariff,
        effective_from,
        actor,
        reason,
        lambda p: command_key(key, p, CommandKind.SET_PRICES),
    )
    return commands


@dataclass(frozen=True)
class Opened:
    account: Account
    sale: JournalEntry | None


@transaction.atomic
def open_account(
    point: MeteringPoint,
    tenant: Tenant,
    tariff: Tariff | None,
    first_purchase: Money | None,
    channel: str,
    actor: Any,
    reason: str,
    key: str,
) -> Opened:
    """Open an account on ``point``, price it from now, and sell the first purchase."""
    account = accounts.open_account(tenant, [point], actor, reason)
    if tariff is not None:
        set_tariff(account, tariff, timezone.now(), actor, reason, key)
    sale = None
    if first_purchase is not None:
        sale = billing.sell(account, first_purchase, channel, actor, f"console:{key}", reason)[
            0
        ].entry
    return Opened(account, sale)


def sell(
    account: Account, amount: Money, channel: str, actor: Any, reason: str, key: str
) -> JournalEntry:
    """One counter sale; the form's key makes a resubmitted form return the same sale."""
    sale, _push = billing.sell(account, amount, channel, actor, f"console:{key}", reason)
    return sale.entry


def refund(
    account: Account, amount: Money, channel: str, actor: Any, reason: str, key: str
) -> JournalEntry:
    """Pay credit back; the form's key makes a resubmitted form refund once."""
    return billing.refund(account, amount, channel, actor, reason, f"console:{key}").entry


def recall_credit(
    account: Account, point: MeteringPoint, actor: Any, reason: str, key: str
) -> Command:
    """Recall a meter-side meter's credit; the form's key makes a resubmitted form recall once."""
    return recall.recall_meter_credit(account, point, actor, reason, f"console:{key}")


def take_over_credit(
    account: Account, point: MeteringPoint, amount: Money, actor: Any, reason: str, key: str
) -> JournalEntry:
    """Take over credit found on a meter; the form's key makes a resubmitted form book once."""
    return takeover.take_over_meter_credit(
        account, point, amount, actor, reason, f"console:{key}"
    ).entry


def replace(
    point: MeteringPoint,
    new_number: str,
    old_total: Decimal,
    old_remaining_credit: Decimal | None,
    new_initial_total: Decimal,
    new_purchase_count: int,
    actor: Any,
    reason: str,
) -> Replacement:
    try:
        return replace_meter(
            point,
            new_number,
            FinalReading(old_total, old_remaining_credit),
            new_initial_total,
            actor,
            reason,
            new_purchase_count=new_purchase_count,
        )
    except ValueError as exc:  # replace_meter's refusals (multi-circuit box, missing credit)
        if isinstance(exc, DomainError):
            raise
        raise OperationRefused(str(exc)) from exc
    except SettlementBlocked as exc:  # the old meter cannot be charged (no tariff in force)
        raise OperationRefused(str(exc)) from exc
