"""Interval readings and events (the meters' and the prepaid policy's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema

from pems.api.schemas.common import DecimalOut


class ReadingOut(Schema):
    """The first good reading of a point in one interval (energy registers as read)."""

    point: int
    interval_start: datetime
    read_at: datetime
    energy_total: DecimalOut
    energy_sharp: DecimalOut | None
    energy_peak: DecimalOut | None
    energy_flat: DecimalOut | None
    energy_valley: DecimalOut | None
    remaining_credit: DecimalOut | None

    @staticmethod
    def resolve_point(obj: Any) -> int:
        return int(obj.point_id)


class EventOut(Schema):
    """A meter event (relay, alarms, counts, offline …) or a prepaid event (alarm, trip, close).

    ``source`` says which: meter events carry ``before``/``after``; prepaid
    events carry the account, alarm level and balance that caused them.
    """

    source: Literal["meter", "prepaid"]
    id: int
    at: datetime
    kind: str
    point: int | None
    meter_number: str | None
    account: int | None
    alarm_level: int | None
    balance: DecimalOut | None
    detail: str
    before: dict[str, Any]
    after: dict[str, Any]
