"""Tariffs as the console's tariff pages show them, and an account's change of tariff."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from django.utils import timezone
from ninja import Field, Schema
from pydantic import AwareDatetime

from pems.api.schemas.common import DecimalOut, IdempotencyKey, RequiredReason
from pems.billing import tariffs
from pems.domain.tariff import TariffVersion

#: The stored states (``pems.billing.tariffs``) as the API names them.
STATES = {tariffs.SUPERSEDED: "past", tariffs.IN_FORCE: "current", tariffs.SCHEDULED: "future"}


class TierOut(Schema):
    up_to: DecimalOut | None = Field(description="Cumulative units in the cycle; null: no bound.")
    surcharge: DecimalOut = Field(description="Added to the rate's price per unit in this band.")


class TariffVersionOut(Schema):
    id: str
    effective_from: datetime = Field(
        description="UTC; the document states it in the tariff's time_zone."
    )
    state: Literal["past", "current", "future"] = Field(
        description="current: the latest version started; past: replaced since; future: not "
        "started yet."
    )
    prices: dict[str, DecimalOut] = Field(
        description="Price per unit by TOU rate (sharp, peak, flat, valley): the rates it names."
    )
    tiers: list[TierOut] | None = Field(description="Tier surcharges; null: no tiers.")
    service_fee_ratio: DecimalOut


class TariffOut(Schema):
    id: int
    site: int
    name: str
    utility: str
    created_at: datetime
    currency: str | None = Field(description="null when the document no longer parses.")
    unit: str | None
    time_zone: str | None
    versions: list[TariffVersionOut] = Field(description="Oldest first.")
    problem: str = Field(description="Why the stored document no longer parses; empty if it does.")

    @staticmethod
    def resolve_site(obj: Any) -> int:
        return int(obj.site_id)

    @staticmethod
    def resolve_currency(obj: Any) -> str | None:
        parsed, _problem = tariffs.readable(obj)
        return parsed.currency if parsed else None

    @staticmethod
    def resolve_unit(obj: Any) -> str | None:
        parsed, _problem = tariffs.readable(obj)
        return parsed.unit.symbol if parsed else None

    @staticmethod
    def resolve_time_zone(obj: Any) -> str | None:
        parsed, _problem = tariffs.readable(obj)
        return parsed.zone.key if parsed else None

    @staticmethod
    def resolve_versions(obj: Any) -> list[dict[str, Any]]:
        parsed, _problem = tariffs.readable(obj)
        if parsed is None:
            return []
        return [_version(v, state) for v, state in tariffs.version_states(parsed, timezone.now())]

    @staticmethod
    def resolve_problem(obj: Any) -> str:
        return tariffs.readable(obj)[1]


def _version(version: TariffVersion, state: str) -> dict[str, Any]:
    tiers = version.tiers
    return {
        "id": version.id,
        "effective_from": version.effective_from.astimezone(UTC),
        "state": STATES[state],
        "prices": {rate.value: price for rate, price in version.prices.items()},
        "tiers": None
        if tiers is None
        else [{"up_to": t.up_to, "surcharge": t.surcharge} for t in tiers.tiers],
        "service_fee_ratio": version.service_fee_ratio,
    }


class TariffAssignmentIn(Schema):
    """Price the account under a tariff of its site from a moment on."""

    tariff: int
    effective_from: AwareDatetime = Field(
        description="ISO 8601 with its offset; never before what is already settled."
    )
    reason: RequiredReason
    idempotency_key: IdempotencyKey | None = Field(
        None, description="Optional: names the commands queued, so a retry queues them once."
    )


class TariffAssignmentOut(Schema):
    id: int = Field(description="The assignment's id.")
    account: int
    tariff: int
    tariff_name: str
    effective_from: datetime
    meters_told: int = Field(
        description="SET_PRICES commands queued to meter-side meters (sent when it starts)."
    )
