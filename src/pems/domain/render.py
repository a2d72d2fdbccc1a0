"""Presenting :class:`Charges` as a plain-text table or JSON-ready data.

Amounts are rendered from Decimal to text directly; JSON data carries every
amount and quantity as a string, never a float. The text table's words go
through ``translate`` (``gettext`` at the Django boundary, English here), and
columns are aligned by display width, so Chinese labels line up too.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

from pems.domain.charges import Breakdown, Charges
from pems.domain.messages import Translate, english, gettext_noop

#: Words of the table that name a value rather than a column: rates, per, totals
#: (written out, so that ``makemessages`` finds each; "day" alone means a date elsewhere).
_VALUES = {
    "sharp": gettext_noop("sharp"),
    "peak": gettext_noop("peak"),
    "flat": gettext_noop("flat"),
    "valley": gettext_noop("valley"),
    "day": gettext_noop("daily"),
    "month": gettext_noop("monthly"),
    "energy": gettext_noop("energy"),
    "fixed": gettext_noop("fixed"),
    "total": gettext_noop("total"),
}
_BREAKDOWNS: dict[Breakdown, str] = {
    "version": gettext_noop("Per version"),
    "rate": gettext_noop("Per rate"),
    "tier": gettext_noop("Per tier"),
}


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


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = [
            c + " " * (w - _width(c)) if i == 0 else " " * (w - _width(c)) + c
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


def charges_to_text(charges: Charges, translate: Translate = english) -> str:
    """A readable table of the breakdown and totals, its words through ``translate``."""
    t = translate
    unit, currency = charges.unit.symbol, charges.currency

    def value(name: str) -> str:
        return t(_VALUES[name]) if name in _VALUES else name

    heading = gettext_noop("Tariff %(tariff)s: amounts in %(currency)s, quantities in %(unit)s")
    out = [t(heading) % {"tariff": repr(charges.tariff), "currency": currency, "unit": unit}]
    if charges.start and charges.end:
        span = gettext_noop("Usage from %(start)s to %(end)s")
        out.append(t(span) % {"start": charges.start.isoformat(), "end": charges.end.isoformat()})
    rows = [
        [
            line.cycle.isoformat(),
            line.version,
            value(line.rate.value),
            str(line.tier or "-"),
            number(line.quantity.amount),
            number(line.unit_price),
            str(line.amount.amount),
        ]
        for line in charges.energy_lines
    ]
    columns = [t(gettext_noop("cycle from")), t(gettext_noop("version")), t(gettext_noop("rate"))]
    columns += [t(gettext_noop("tier")), unit, t(gettext_noop("price")), currency]
    out += _table(t(gettext_noop("Energy")), columns, rows)
    for name, title in _BREAKDOWNS.items():
        summary = [
            [
                value(str(k)) if k is not None else "-",
                number(s.quantity.amount),
                str(s.amount.amount),
            ]
            for k, s in charges.subtotals(name).items()
        ]
        out += _table(t(title), [t(name), unit, currency], summary)
    fixed = [
        [
            line.version,
            line.name,
            value(line.per.value),
            line.month,
            str(line.days),
            str(line.amount.amount),
        ]
        for line in charges.fixed_lines
    ]
    if fixed:
        header = [t(gettext_noop("version")), t(gettext_noop("charge")), t(gettext_noop("per"))]
        header += [t(gettext_noop("month")), t(gettext_noop("days")), currency]
        out += _table(t(gettext_noop("Fixed charges")), header, fixed)
    totals = [
        [value("energy"), number(charges.energy.amount), str(charges.energy_amount.amount)],
        [value("fixed"), "", str(charges.fixed_amount.amount)],
        [value("total"), "", str(charges.total.amount)],
    ]
    out += _table(t(gettext_noop("Totals")), ["", unit, currency], totals)
    if charges.cycle:
        out.append("")
        used = gettext_noop("Billing cycle from %(start)s: %(used)s %(unit)s used")
        values = {"start": charges.cycle.start, "used": number(charges.cycle.used.amount)}
        out.append(t(used) % {**values, "unit": unit})
    return "\n".join(out) + "\n"
