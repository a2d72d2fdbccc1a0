"""`pems check` warns before tariffs that use Chinese holidays run out of calendar.

chinesecalendar learns each year's holidays when the State Council publishes
them (usually late in the year before); a tariff that depends on day types
stops settling on the first day of a year the library does not know, and a
site's keep-power periods fall back to plain Saturday/Sunday weekends. Which
tariffs, and for how many accounts, is :mod:`pems.billing.calendar_horizon`'s
answer (the dashboard and ``pems status``); this check needs no database.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Warning as CheckWarning
from django.utils import timezone

from pems.billing.calendar_horizon import first_unknown_day, warns


def holiday_calendar_horizon(app_configs: Any = None, **kwargs: Any) -> list[CheckWarning]:
    today = timezone.localdate()
    first_unknown = first_unknown_day()
    if not warns(today, first_unknown):
        return []
    stop = (
        f"have stopped settling since {first_unknown.isoformat()}"
        if today >= first_unknown
        else f"will stop settling on {first_unknown.isoformat()}"
    )
    return [
        CheckWarning(
            f"The installed chinesecalendar knows public holidays up to "
            f"{first_unknown.year - 1} only; tariffs using holidays {stop}, and keep-power "
            "periods count plain Saturday/Sunday weekends from then on (`pems status` "
            "lists the tariffs).",
            hint="Upgrade chinesecalendar (pyproject.toml, then `make lock`), or revise each "
            "tariff: set fallback_to_weekends = true and add the year's public holidays and "
            "make-up workdays as [calendar] holidays and workdays.",
            id="pems.W001",
        )
    ]
