"""An account's tariff and thresholds changed, and its meter-side meters told.

Shared by the console and the API. A meter-side meter keeps its own four TOU
prices and its alarm thresholds and overdraft limit, so each change to the
account's is sent to it: SET_PRICES when the new tariff starts, SET_ALARMS at
once. A server-side account needs no command (PEMS prices and judges it).

The caller names each command's idempotency key (``key_of(point)``, or ``key``
for one point): a caller that sends the same request twice queues nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from pems.accounts import actions as accounts
from pems.accounts.models import Account
from pems.billing import relays
from pems.billing.models import AccountTariff, Tariff
from pems.billing.policy import apply_policy
from pems.billing.tariffs import assign_tariff, priced, tariff_at
from pems.control import actions as control
from pems.control.models import Command, CommandKind
from pems.domain.tou import Rate
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint

#: The TOU rates as a person reads them (尖/峰/平/谷).
RATE_LABELS = {
    Rate.SHARP: pgettext_lazy("TOU rate", "sharp"),
    Rate.PEAK: pgettext_lazy("TOU rate", "peak"),
    Rate.FLAT: pgettext_lazy("TOU rate", "flat"),
    Rate.VALLEY: pgettext_lazy("TOU rate", "valley"),
}


class MeterSettingRefused(Exception):
    """A meter cannot be sent these settings; the message tells the person why."""


def meter_prices(account: Account, at: datetime) -> dict[str, str]:
    """The four rates a meter-side meter needs from the account's tariff in force at ``at``."""
    tariff = tariff_at(account, at)
    if tariff is None:
        raise MeterSettingRefused(_("The account has no tariff in force; set one first."))
    version = priced(tariff).version_at(at)
    if version.tiers is not None:
        raise MeterSettingRefused(
            _("%(tariff)s has tiers, which a meter cannot apply: use server-side fee control.")
            % {"tariff": tariff.name}
        )
    flat = version.prices.get(Rate.FLAT)
    prices = {}
    for rate in Rate:
        price = version.prices.get(rate, flat)
        if price is None:
            raise MeterSettingRefused(
                _("%(tariff)s has no %(rate)s price.")
                % {"tariff": tariff.name, "rate": RATE_LABELS[rate]}
            )
        prices[rate.value] = str(price)
    return prices


def meter_thresholds(account: Account) -> dict[str, str]:
    """What a meter-side meter is sent: the account's alarm 1, alarm 2 and overdraft limit."""
    values = account.effective_thresholds()
    return {
        "alarm1": str(values["alarm1"]),
        "alarm2": str(values["alarm2"]),
        "overdraft": str(values["overdraft"]),
    }


def meter_side_account(point: MeteringPoint) -> Account:
    """The open account paying for a meter-side ``point``; refused for any other point."""
    if point.fee_control != FeeControl.METER_SIDE:
        raise MeterSettingRefused(_("Only a meter-side meter keeps prices and thresholds."))
    account = relays.open_account_of(point)
    if account is None:
        raise MeterSettingRefused(_("No open account pays for this point."))
    return account


def meter_side_points(account: Account) -> list[MeteringPoint]:
    """The meter-side points the account pays for now."""
    return list(
        MeteringPoint.objects.filter(
            account_links__account=account,
            account_links__released_at__isnull=True,
            fee_control=FeeControl.METER_SIDE,
        ).order_by("pk")
    )


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
        idempotency_key=key,
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
        idempotency_key=key,
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def set_tariff(
    account: Account,
    tariff: Tariff,
    effective_from: datetime,
    actor: Any,
    reason: str,
    key_of: Callable[[MeteringPoint], str],
) -> tuple[AccountTariff, list[Command]]:
    """Assign the tariff; meter-side meters get its rates when it takes effect."""
    assignment = assign_tariff(account, tariff, effective_from, actor, reason)
    points = meter_side_points(account)
    return assignment, [push_prices(p, actor, reason, key_of(p), at=effective_from) for p in points]


@transaction.atomic
def set_thresholds(
    account: Account,
    values: Mapping[str, Decimal | None],
    actor: Any,
    reason: str,
    key_of: Callable[[MeteringPoint], str],
) -> list[Command]:
    """Change the thresholds, let the policy judge the balance again, tell meter-side meters."""
    accounts.set_thresholds(account, actor, reason, **values)
    apply_policy(account, actor=actor)
    return [push_thresholds(p, actor, reason, key_of(p)) for p in meter_side_points(account)]
