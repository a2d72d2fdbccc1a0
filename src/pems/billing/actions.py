"""Prepaid operations as a cashier, the portal or a payment callback perform them.

Each is the ledger action (``pems.accounts.actions``) plus what follows for
the meters: meter-side credit pushes, recalls, and the prepaid policy (trip
or close). Call these, not the ledger-only actions, from views and the API.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from pems.accounts import actions as ledger_actions
from pems.accounts.models import Account
from pems.audit.log import recorded_together
from pems.billing import credit, policy
from pems.billing.models import AccountTariff
from pems.billing.policy import apply_policy
from pems.billing.sale_reads import SaleReads, read_for_sale
from pems.billing.tariffs import service_fee_ratio
from pems.control.models import Command
from pems.domain.fees import split_top_up
from pems.domain.money import Money
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.posting import LedgerError, Posted, shared_rows_last


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
    return service_fee_ratio(document, name, account.tenant.site, now)


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
    there, so they are held only for the final write and the commit.
    """
    locked = ledger_actions.lock_open(account)
    return sell_locked(locked, amount, channel, actor, idempotency_key, reason)


def sell_locked(
    locked: Account,
    amount: Money,
    channel: str,
    actor: Any,
    idempotency_key: str,
    reason: str = "",
    reads: SaleReads | None = None,
) -> tuple[ledger_actions.Recharge, Command | None]:
    """:func:`sell` for a caller whose transaction holds the open account (``lock_open``).

    ``reads`` is what ``read_for_sale`` returned for this sale under the same lock,
    when the caller read it first (the API, to tell a replay from a new sale).
    No transaction of its own: a refusal raised here must roll the caller's back.
    """
    ledger_actions.check_amount(locked, amount)  # before the policy decides on it
    if reads is None:
        reads = read_for_sale(locked, timezone.now(), idempotency_key)
    point = credit.meter_side_among(locked, reads.points)
    if point is None and not reads.replay:
        return _sell_server_side(
            locked, reads, amount, channel, actor, idempotency_key, reason
        ), None
    # The credit push and the policy need the sale's entry first, so its ledger rows wait
    # for the end: the wallet moves only under the account lock this sale holds, so its
    # balance is known from the reads, and one statement moves every row in key order
    # right before the commit (a replay posts nothing and takes none). The sale's three
    # audit events are written together, just before that.
    with shared_rows_last(every_row=True) as moved, recorded_together():
        sale = ledger_actions.recharge_locked(
            locked, amount, channel, actor, idempotency_key, reason, reads.fee_ratio
        )
        push, left, usable = None, None, None
        if sale.created:
            wallet = Money(reads.wallet, sale.credited.currency)
            sale = replace(sale, balance=wallet + sale.credited)
            left = sale.balance
        if point is not None:
            push = credit.send_credit(locked, point, sale.credited, sale.entry, actor)
            if left is not None:
                left -= sale.credited  # moved on to the meter
                # The meter's credit by PEMS's account, this push included (it may not
                # have landed yet): the tenant's alarm clears at the sale, not at the
                # meter's next reading. Spending since that reading is not known yet.
                on_meter = Money(reads.meter_credit[point.pk], left.currency)
                usable = left + on_meter + sale.credited
        # A replay left no balance: the policy reads the wallet again.
        policy.act(locked, reads.inputs, left, actor=actor, meter_credit=usable)
    _check_wallet(locked, left, moved, idempotency_key)
    return sale, push


def wallet_after(sale: ledger_actions.Recharge, push: Command | None) -> Money | None:
    """The wallet a new sale left under its account lock; None for a replay (nothing posted).

    ``sale.balance`` is the wallet right after the recharge entry; a push moved
    ``sale.credited`` on to the meter (``sell_locked`` checked the wallet ended there).
    """
    if not sale.created or sale.balance is None:
        return None
    return sale.balance if push is None else sale.balance - sale.credited


def _check_wallet(
    locked: Account, expected: Money | None, moved: dict[str, Decimal], idempotency_key: str
) -> None:
    """Undo the sale if the wallet did not end where the policy was told (never expected)."""
    if expected is None:
        return
    found = moved.get(chart.wallet_ref(locked).key)
    if found != expected.amount:
        raise LedgerError(
            f"account {locked.pk}: the wallet moved outside the account lock "
            f"(expected {expected} after sale {idempotency_key!r}, found {found})"
        )


def _sell_server_side(
    locked: Account,
    reads: SaleReads,
    amount: Money,
    channel: str,
    actor: Any,
    idempotency_key: str,
    reason: str,
) -> ledger_actions.Recharge:
    """A new sale without a meter to credit: the policy decides first, then the recharge posts.

    The wallet moves only under the account lock this transaction holds, so the
    balance the sale will leave is known before posting; deciding first keeps the
    policy's writes out of the time the site's shared ledger rows are locked.
    The posted balance is checked against it, and a mismatch undoes everything.
    """
    credited = split_top_up(amount, reads.fee_ratio).credited
    after = Money(reads.wallet, credited.currency) + credited
    policy.act(locked, reads.inputs, after, actor=actor)
    sale = ledger_actions.recharge_locked(
        locked, amount, channel, actor, idempotency_key, reason, reads.fee_ratio
    )
    if not sale.created or sale.balance != after:
        raise LedgerError(
            f"account {locked.pk}: the wallet moved outside the account lock "
            f"(expected {after} after sale {idempotency_key!r}, found {sale.balance})"
        )
    return sale


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
