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
from pems.billing import credit, policy
from pems.billing.models import AccountTariff
from pems.billing.policy import active_points, apply_policy
from pems.billing.tariffs import parse
from pems.control.models import Command
from pems.domain.money import Money
from pems.ledger.models import JournalEntry
from pems.ledger.posting import Posted


def fee_ratio(account: Account) -> Decimal:
    """The service-fee ratio of the tariff version in force now (0 without a tariff)."""
    now = timezone.now()
    # What ``tariff_at`` finds, as plain values: this runs in every sale.
    found = (
        AccountTariff.objects.filter(account=account, effective_from__lte=now)
        .order_by("-effective_from")
        .values_list("tariff__document", "tariff__name")
        .first()
    )
    if found is None:
        return Decimal(0)
    document, name = found
    return parse(document, account.tenant.site, source=name).version_at(now).service_fee_ratio


@transaction.atomic
def sell(
    account: Account,
    amount: Money,
    channel: str,
    actor: Any,
    idempotency_key: str,
    reason: str = "",
) -> tuple[ledger_actions.Recharge, Command | None]:
    """Recharge; push the credit to a meter-side meter; close a tripped relay if now allowed.

    One account lock for the whole sale, and every read before the recharge:
    the site's clearing and fee accounts it locks are shared by all sales
    there, so they are held only for the writes.
    """
    locked = ledger_actions.lock_open(account)
    ratio = fee_ratio(locked)
    points = active_points(locked)
    point = credit.meter_side_among(locked, points)
    inputs = policy.read_inputs(locked, points)
    sale = ledger_actions.recharge_locked(
        locked, amount, channel, actor, idempotency_key, reason, ratio
    )
    push = None
    if point is not None:
        push = credit.send_credit(locked, point, sale.credited, sale.entry, actor)
    # After a push the credit has moved on from the wallet: the policy reads it again.
    policy.act(locked, inputs, None if push else sale.balance, actor=actor)
    return sale, push


@transaction.atomic
def refund(
    account: Account, amount: Money, channel: str, actor: Any, reason: str, idempotency_key: str
) -> Posted:
    """Pay credit back (never more than the balance), then let the policy judge what is left."""
    posted = ledger_actions.refund(account, amount, channel, actor, reason, idempotency_key)
    apply_policy(account, actor=actor)
    return posted


@transaction.atomic
def reverse_sale(sale: JournalEntry, actor: Any, reason: str) -> Posted:
    """Reverse a wrong recharge (冲正), first recalling its credit if still unsent."""
    credit.recall_credit(sale, actor, reason)
    reversal = ledger_actions.reverse(sale, actor, reason)
    if sale.account is not None:
        apply_policy(sale.account, actor=actor)
    return reversal
