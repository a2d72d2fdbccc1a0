"""The pure double-entry rules refuse every malformed entry with a message naming it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pems.domain.ledger import Line, UnbalancedEntryError, check_entry
from pems.domain.money import Money


def cny(amount: str) -> Money:
    return Money(Decimal(amount), "CNY")


def test_a_balanced_entry_passes_and_names_its_currency():
    assert (
        check_entry([Line("wallet:1", cny("10.00")), Line("clearing:1:cash", cny("-10.00"))])
        == "CNY"
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([Line("wallet:1", cny("1.00"))], "at least two lines"),
        ([Line("a", cny("1.00")), Line("b", cny("-0.99"))], "does not balance"),
        ([Line("a", cny("0.00")), Line("b", cny("0.00"))], "zero-amount line"),
        (
            [Line("a", cny("1.00")), Line("b", Money(Decimal("-1.00"), "USD"))],
            "mixes currencies",
        ),
    ],
)
def test_malformed_entries_are_refused(lines, message):
    with pytest.raises(UnbalancedEntryError, match=message):
        check_entry(lines)
