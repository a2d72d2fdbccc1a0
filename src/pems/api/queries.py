"""Querysets the API lists from, shaped so a page is a handful of SQL statements."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from pems.accounts.models import Account, AccountMeteringPoint
from pems.billing.models import PrepaidState
from pems.inventory.models import MeteringPoint
from pems.ledger.models import LedgerAccount


def wallet_balance(account_ref: str) -> Subquery:
    """The cached wallet balance that ``accounts.actions.balance`` reads, as a column.

    Lists annotate it instead of calling ``balance()`` per row; only the
    posting code ever writes that cache.
    """
    wallets = LedgerAccount.objects.filter(
        kind=LedgerAccount.Kind.WALLET, account_id=OuterRef(account_ref)
    )
    return Subquery(wallets.values("balance")[:1])


def meter_credit(account_ref: str) -> Coalesce:
    """What the account's meter-side meters hold by the ledger (sent or taken over, not yet
    used as last reconciled), as a column: 0 for an account without one."""
    held = (
        LedgerAccount.objects.filter(
            kind=LedgerAccount.Kind.METER_CREDIT, account_id=OuterRef(account_ref)
        )
        .values("account_id")
        .annotate(total=Sum("balance"))
        .values("total")
    )
    balance = LedgerAccount._meta.get_field("balance")
    return Coalesce(Subquery(held[:1], output_field=balance), Value(0), output_field=balance)


def points() -> QuerySet[MeteringPoint]:
    """Metering points with their latest state and the open account paying for them."""
    active = AccountMeteringPoint.objects.filter(
        metering_point=OuterRef("pk"), released_at__isnull=True
    )
    account = OuterRef("open_account_id")
    return (
        MeteringPoint.objects.select_related(
            "meter__gateway__site", "room__parent__parent", "state"
        )
        .annotate(open_account_id=Subquery(active.values("account_id")[:1]))
        .annotate(
            open_balance=wallet_balance("open_account_id"),
            open_alarm=Subquery(
                PrepaidState.objects.filter(account_id=account).values("alarm")[:1]
            ),
            open_keep_power=Subquery(Account.objects.filter(pk=account).values("keep_power")[:1]),
        )
        .order_by("meter__gateway__site_id", "meter__number", "circuit", "pk")
    )


def accounts() -> QuerySet[Account]:
    """Accounts with tenant, site, balance and alarm level."""
    return (
        Account.objects.select_related("tenant__site", "prepaid_state")
        .prefetch_related("links")
        .annotate(wallet_balance=wallet_balance("pk"), on_meter=meter_credit("pk"))
        .order_by("-opened_at", "-pk")
    )
