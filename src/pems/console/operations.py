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
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from pems.accounts import actions as accounts
from pems.accounts.models import Account, Tenant
from pems.billing import actions as billing
from pems.billing import recall, relays, site_defaults, takeover
from pems.billing.credit import CreditError
from pems.billing.models import Tariff
from pems.billing.policy import apply_policy
from pems.billing.relays import RelayRefused
from pems.billing.replacement import FinalReading, Replacement, replace_meter
from pems.billing.site_defaults import meter_thresholds
from pems.billing.tariffs import TariffChangeRefused, assign_tariff, priced, tariff_at
from pems.control import actions as control
from pems.control.models import Command, CommandKind
from pems.domain.errors import DomainError
from pems.domain.money import Money
from pems.domain.tou import Rate
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint, Site
from pems.ledger.models import JournalEntry
from pems.ledger.posting import LedgerError


class OperationRefused(Exception):
    """The operation cannot be done as asked; the message tells the person why."""


#: Every refusal a domain action may answer with; the console shows the message
#: next to the form and nothing has changed (each action runs in one transaction).
REFUSALS: tuple[type[Exception], ...] = (
    OperationRefused,
    RelayRefused,
    accounts.AccountActionError,
    LedgerError,
    CreditError,
    TariffChangeRefused,
    control.IdempotencyConflict,
    DomainError,
    ValidationError,
)

#: The TOU rates as a person reads them (尖/峰/平/谷).
RATE_LABELS = {
    Rate.SHARP: pgettext_lazy("TOU rate", "sharp"),
    Rate.PEAK: pgettext_lazy("TOU rate", "peak"),
    Rate.FLAT: pgettext_lazy("TOU rate", "flat"),
    Rate.VALLEY: pgettext_lazy("TOU rate", "valley"),
}

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


def meter_prices(account: Account, at: datetime) -> dict[str, str]:
    """The four rates a meter-side meter needs from the account's tariff in force at ``at``."""
    tariff = tariff_at(account, at)
    if tariff is None:
        raise OperationRefused(_("The account has no tariff in force; set one first."))
    version = priced(tariff).version_at(at)
    if version.tiers is not None:
        raise OperationRefused(
            _("%(tariff)s has tiers, which a meter cannot apply: use server-side fee control.")
            % {"tariff": tariff.name}
        )
    flat = version.prices.get(Rate.FLAT)
    prices = {}
    for rate in Rate:
        price = version.prices.get(rate, flat)
        if price is None:
            raise OperationRefused(
                _("%(tariff)s has no %(rate)s price.")
                % {"tariff": tariff.name, "rate": RATE_LABELS[rate]}
            )
        prices[rate.value] = str(price)
    return prices


def meter_side_account(point: MeteringPoint) -> Account:
    if point.fee_control != FeeControl.METER_SIDE:
        raise OperationRefused(_("Only a meter-side meter keeps prices and thresholds."))
    account = relays.open_account_of(point)
    if account is None:
        raise OperationRefused(_("No open account pays for this point."))
    return account


def push_prices(
    point: MeteringPoint, actor: Any, reason: str, key: str, at: datetime | None = None
) -> Command:
    """Queue the tariff's rates to a meter-side meter (not before ``at`` when given)."""
    account = meter_side_account(point)
    when = at or timezone.now()
    return control.enqueue(
        point,
        CommandKind.SET_PRICES,
        meter_prices(account, when),
        idempotency_key=command_key(key, point, CommandKind.SET_PRICES),
        not_before=at if at is not None and at > timezone.now() else None,
        actor=actor,
        reason=reason,
    )


def push_thresholds(point: MeteringPoint, actor: Any, reason: str, key: str) -> Command:
    """Queue the account's alarm thresholds and overdraft limit to a meter-side meter."""
    account = meter_side_account(point)
    return control.enqueue(
        point,
        CommandKind.SET_ALARMS,
        meter_thresholds(account),
        idempotency_key=command_key(key, point, CommandKind.SET_ALARMS),
        actor=actor,
        reason=reason,
    )


def meter_side_points(account: Account) -> list[MeteringPoint]:
    return list(
        MeteringPoint.objects.filter(
            account_links__account=account,
            account_links__released_at__isnull=True,
            fee_control=FeeControl.METER_SIDE,
        )
    )


@transaction.atomic
def set_thresholds(
    account: Account, values: dict[str, Decimal | None], actor: Any, reason: str, key: str
) -> list[Command]:
    """Change the thresholds, let the policy judge the balance again, tell meter-side meters."""
    accounts.set_thresholds(account, actor, reason, **values)
    apply_policy(account, actor=actor)
    return [push_thresholds(p, actor, reason, key) for p in meter_side_points(account)]


def set_site_thresholds(
    site: Site, values: dict[str, Decimal], actor: Any, reason: str, key: str
) -> list[Command]:
    """Change a site's defaults; tell the meter-side meters that hold a changed one."""
    return site_defaults.set_site_thresholds(
        site, values, actor, reason, lambda point: command_key(key, point, CommandKind.SET_ALARMS)
    )


@transaction.atomic
def set_tariff(
    account: Account, tariff: Tariff, effective_from: datetime, actor: Any, reason: str, key: str
) -> list[Command]:
    """Assign the tariff; meter-side meters get its rates when it takes effect."""
    assign_tariff(account, tariff, effective_from, actor, reason)
    points = meter_side_points(account)
    return [push_prices(p, actor, reason, key, at=effective_from) for p in points]


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
