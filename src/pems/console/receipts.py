"""A sale's receipt, rebuilt from the ledger so a reprint always shows the same numbers.

The receipt number is the journal entry's number. "Balance after" is the
tenant's credit right after the sale: the wallet plus the credit PEMS sent to
meter-side meters, summed over the entries up to and including the sale (an
account's entries are numbered in the order they were posted, because every
money action locks the account first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from pems.accounts.models import Account
from pems.inventory.models import MeteringPoint
from pems.ledger.models import Channel, JournalEntry, LedgerAccount, Posting

TENANT_CREDIT = [LedgerAccount.Kind.WALLET, LedgerAccount.Kind.METER_CREDIT]


def tenant_credit(account: Account, up_to: JournalEntry | None = None) -> Decimal:
    """The tenant's credit known to PEMS (wallet + meter credit), now or after ``up_to``."""
    if up_to is None:
        total = LedgerAccount.objects.filter(account=account, kind__in=TENANT_CREDIT).aggregate(
            total=Sum("balance")
        )["total"]
    else:
        total = Posting.objects.filter(
            ledger_account__account=account,
            ledger_account__kind__in=TENANT_CREDIT,
            entry_id__lte=up_to.pk,
        ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")


@dataclass(frozen=True)
class Receipt:
    number: int
    at: datetime
    tenant: str
    rooms: list[str]
    meters: list[str]
    channel: str
    amount: Decimal
    fee: Decimal
    credited: Decimal
    balance_after: Decimal
    currency: str
    cashier: str
    reversed: bool
    #: What was sold (``Utility``): the account's points' one utility, or "" if they mix.
    utility: str = ""


def receipt_of(sale: JournalEntry) -> Receipt:
    """The receipt of a recharge entry (the caller checked kind and scope)."""
    account = sale.account
    assert account is not None  # noqa: S101 — a recharge always names its account
    points = MeteringPoint.objects.filter(account_links__account=account).select_related(
        "meter", "room"
    )
    postings = dict(sale.postings.values_list("ledger_account__kind", "amount"))
    channel = sale.memo.get("channel", "")
    fee = postings.get(LedgerAccount.Kind.SERVICE_FEE, Decimal("0.00"))
    utilities = {p.utility for p in points}
    return Receipt(
        number=sale.pk,
        at=sale.created_at,
        tenant=account.tenant.name,
        rooms=sorted({p.room.name for p in points if p.room_id is not None}),
        meters=[p.meter_number for p in points],
        channel=str(Channel(channel).label) if channel in Channel.values else channel,
        amount=-postings[LedgerAccount.Kind.CLEARING],
        fee=fee,
        credited=postings.get(LedgerAccount.Kind.WALLET, Decimal("0.00")),
        balance_after=tenant_credit(account, up_to=sale),
        currency=sale.site.currency,
        cashier=sale.actor_label,
        reversed=JournalEntry.objects.filter(reverses=sale).exists(),
        utility=utilities.pop() if len(utilities) == 1 else "",
    )
