"""Double-entry rules, pure: what makes a journal entry acceptable.

Amounts are *credit-positive*: a tenant's wallet balance is the plain sum of
its postings (positive = credit the tenant can spend), income accounts grow
positive, and asset accounts (cash drawers, payment-channel clearing) carry
negative balances. Whatever the sign convention, every entry sums to zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pems.domain.errors import DomainError
from pems.domain.money import Money


class UnbalancedEntryError(DomainError, ValueError):
    """A journal entry whose lines do not sum to zero, or that is otherwise malformed."""


@dataclass(frozen=True, slots=True)
class Line:
    """One posting of an entry: an amount to one ledger account (by key)."""

    account: str
    amount: Money


def check_entry(lines: Sequence[Line]) -> str:
    """Prove an entry can be posted; returns its currency.

    At least two lines, no zero line, one currency, and a sum of exactly zero.
    """
    if len(lines) < 2:
        raise UnbalancedEntryError(f"an entry needs at least two lines, got {len(lines)}")
    currencies = {line.amount.currency for line in lines}
    if len(currencies) != 1:
        raise UnbalancedEntryError(f"an entry mixes currencies: {sorted(currencies)}")
    zero = [line.account for line in lines if line.amount.amount == 0]
    if zero:
        raise UnbalancedEntryError(f"zero-amount line(s) for {', '.join(zero)}")
    total = sum((line.amount.amount for line in lines), start=Money.zero(currencies.pop()).amount)
    if total != 0:
        detail = ", ".join(f"{line.account} {line.amount}" for line in lines)
        raise UnbalancedEntryError(f"entry does not balance (sum {total}): {detail}")
    return lines[0].amount.currency
