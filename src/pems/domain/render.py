"""Presenting :class:`Charges` as a plain-text table or JSON-ready data.

Amounts are rendered from Decimal to text directly; JSON data carries every
amount and quantity as a string, never a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pems.domain.charges import Breakdown, Charges


def number(value: Decimal) -> str:
    """Decimal as plain text without needless trailing zeros (at least 2 decimals)."""
    text = format(value.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def charges_to_data(charges: Charges) -> dict[str, Any]:
    """JSON-ready data (strings for every amount) describing ``charges``."""

    def summary(by: Breakdown) -> list[dict[str, Any]]:
        return [
            {"key": key, "quantity": number(s.quantity.amount), "amount": str(s.amount.amount)}
            for key, s in charges.subtotals(by).items()
        ]

    cycle = charges.cycle
    return {
        "tariff": charges.tariff,
        "currency": charges.currency,
        "unit": charges.unit.value,
        "start": charges.start.isoformat() if charges.start else None,
        "end": charges.end.isoformat() if charges.end else None,
        "energy_lines": [
            {
                "cycle": line.cycle.isoformat(),
                "version": line.version,
                "rate": line.rate.value,
                "tier": line.tier,
                "quantity": number(line.quantity.amount),
                "unit_price": number(line.unit_price),
                "exact_amount": format(line.exact_amount.normalize(), "f"),
                "amount": str(line.amount.amount),
            }
            for line in charges.energy_lines
        ],
        "by_version": summary("version"),
        "by_rate": summary("rate"),
        "by_tier": summary("tier"),
        "fixed_lines": [
            {
                "version": line.version,
                "name": line.name,
                "per": line.per.value,
                "month": line.month,
                "days": line.days,
                "amount": str(line.amount.amount),
            }
            for line in charges.fixed_lines
        ],
        "energy": number(charges.energy.amount),
        "energy_amount": str(charges.energy_amount.amount),
        "fixed_amount": str(charges.fixed_amount.amount),
        "total": str(charges.total.amount),
        "cycle": None
        if cycle is None
        else {"start": cycle.start.isoformat(), "used": number(cycle.used.amount)},
    }


def _table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  " + "  ".join(cells).rstrip()

    return [
        "",
        title,
        fmt(header),
        "  " + "-" * (sum(widths) + 2 * len(widths) - 2),
        *map(fmt, rows),
    ]


def charges_to_text(charges: Charges) -> str:
    """A readable table of the breakdown and totals."""
    unit, currency = charges.unit.symbol, charges.currency
    out = [f"Tariff {charges.tariff!r}: amounts in {currency}, quantities in {unit}"]
    if charges.start and charges.end:
        out.append(f"Usage from {charges.start.isoformat()} to {charges.end.isoformat()}")
    rows = [
        [
            line.cycle.isoformat(),
            line.version,
            line.rate.value,
            str(line.tier or "-"),
            number(line.quantity.amount),
            number(line.unit_price),
            str(line.amount.amount),
        ]
        for line in charges.energy_lines
    ]
    out += _table(
        "Energy", ["cycle from", "version", "rate", "tier", unit, "price", currency], rows
    )
    breakdowns: tuple[Breakdown, ...] = ("version", "rate", "tier")
    for name in breakdowns:
        summary = [
            [str(k if k is not None else "-"), number(s.quantity.amount), str(s.amount.amount)]
            for k, s in charges.subtotals(name).items()
        ]
        out += _table(f"Per {name}", [name, unit, currency], summary)
    fixed = [
        [
            line.version,
            line.name,
            line.per.value,
            line.month,
            str(line.days),
            str(line.amount.amount),
        ]
        for line in charges.fixed_lines
    ]
    if fixed:
        out += _table(
            "Fixed charges", ["version", "charge", "per", "month", "days", currency], fixed
        )
    totals = [
        ["energy", number(charges.energy.amount), str(charges.energy_amount.amount)],
        ["fixed", "", str(charges.fixed_amount.amount)],
        ["total", "", str(charges.total.amount)],
    ]
    out += _table("Totals", ["", unit, currency], totals)
    if charges.cycle:
        out.append("")
        used = number(charges.cycle.used.amount)
        out.append(f"Billing cycle from {charges.cycle.start}: {used} {unit} used")
    return "\n".join(out) + "\n"
