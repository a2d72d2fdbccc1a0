"""Re-prove the ledger's invariants from the rows themselves (beancount-style).

Used by `pems verify-ledger`, by the property tests and after benchmarks:
every entry balances, has at least two postings, and every cached balance
equals the sum of its postings.
"""

from __future__ import annotations

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from pems.ledger.models import JournalEntry, LedgerAccount, Posting

_AMOUNT = Posting._meta.get_field("amount")


def ledger_problems() -> list[str]:
    """Every violated invariant, each naming its entry or account; empty when sound."""
    problems = [
        f"entry #{row['pk']} does not balance: sum {row['total']}"
        for row in JournalEntry.objects.values("pk")
        .annotate(
            total=Coalesce(Sum("postings__amount"), 0, output_field=_AMOUNT),
            lines=Count("postings"),
        )
        .exclude(total=0)
        .values("pk", "total")
    ]
    problems += [
        f"entry #{row['pk']} has {row['lines']} posting(s)"
        for row in JournalEntry.objects.annotate(lines=Count("postings"))
        .filter(lines__lt=2)
        .values("pk", "lines")
    ]
    problems += [
        f"{row['key']}: cached balance {row['balance']} but postings sum to {row['total']}"
        for row in LedgerAccount.objects.annotate(
            total=Coalesce(Sum("postings__amount"), 0, output_field=_AMOUNT)
        ).values("key", "balance", "total")
        if row["balance"] != row["total"]
    ]
    return problems
