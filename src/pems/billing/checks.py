"""`pems check` warns before tariffs that use Chinese holidays run out of calendar.

chinesecalendar learns each year's holidays when the State Council publishes
them (usually late in the year before); a tariff that depends on day types
stops settling on the first day of a year the library does not know, and a
site's keep-power periods fall back to plain Saturday/Sunday weekends.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Warning as CheckWarning
from django.utils import timezone

from pems.domain.calendar import last_known_year

#: From this month on, next year's holidays should be installed.
WARN_FROM_MONTH = 11


def holiday_calendar_horizon(app_configs: Any = None, **kwargs: Any) -> list[CheckWarning]:
    today = timezone.localdate()
    needed = today.year + (1 if today.month >= WARN_FROM_MONTH else 0)
    known = last_known_year()
    if known >= needed:
        return []
    return [
        CheckWarning(
            f"The installed chinesecalendar knows public holidays up to {known} only; "
            f"tariffs using holidays will stop settling on {known + 1}-01-01, and keep-power "
            "periods will count plain Saturday/Sunday weekends from then on.",
            hint="Upgrade chinesecalendar (pyproject.toml, then `make lock`), or add the "
            "year's dates as [calendar] overrides in the tariff, or set "
            "fallback_to_weekends = true.",
            id="pems.W001",
        )
    ]
