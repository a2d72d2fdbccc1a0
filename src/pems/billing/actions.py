"""Prepaid operations as a cashier, the portal or a payment callback perform them.

Each is the ledger action (``pems.accounts.actions``) plus what follows for
the meters: meter-side credit pushes, recalls, and the prepaid policy (trip
or close). Call these, not the ledger-only actions, from views and the API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from pems.accounts import actions as ledger_actions
from pems.accounts.models import Account
from pems.billing import credit
from pems.billing.policy import apply_policy
from pems.billing.tariffs import priced, tariff_at
from pems.control.models import Command
from pems.domain.money import Money
from pems.ledger.models import JournalEntry
from pems.ledger.posting import Posted


def fee_ratio(account: Account) -> Decimal:
    """The service-fee ratio of the tariff version in force now (0 without a tariff)."""
    now = timezone.now()
    tariff = tariff_at(account, now)
    return priced(tariff).version_at(now).service_fee_ratio if tariff else Decimal(0)


@transaction.atomic
def sell(
    account: Account,
    amount: Money,
    channel: str,
    actor: Any,
    idempotency_key: str,
    reason: str = "",
) -> tuple[ledger_actions.Recharge, Command | None]:
    """Recharge; push the credit to a meter-side meter; close a tripped relay if now allowed."""
    sale = ledger_actions.recharge(
        account, amount, channel, actor, idempotency_key, reason, fee_ratio(account)
    )
    push = None
    point = credit.meter_side_point(account)
    if point is not None:
        push = credit.send_credit(account, point, sale.credited, sale.entry, actor)
    apply_policy(account, actor=actor)
    return sale, push


@transaction.atomic
def reverse_sale(sale: JournalEntry, actor: Any, reason: str) -> Posted:
    """Reverse a wrong recharge (冲正), first recalling its credit if still unsent."""
    credit.recall_credit(sale, actor, reason)
    reversal = ledger_actions.reverse(sale, actor, reason)
    if sale.account is not None:
        apply_policy(sale.account, actor=actor)
    return reversal
