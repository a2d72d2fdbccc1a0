"""Tenants and their prepaid accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import StringConstraints

from pems.api.schemas.common import (
    DecimalIn,
    DecimalOut,
    IdempotencyKey,
    Reason,
    RequiredReason,
)
from pems.api.schemas.inventory import LocationOut
from pems.api.schemas.sales import AmountIn, PurchaseIn
from pems.ledger.models import Channel

#: More is a typing slip, not a tenancy (and a list that long would not fit one statement).
MAX_POINTS_AN_ACCOUNT = 100

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TenantOut(Schema):
    id: int
    site: int
    name: str
    contact_name: str
    mobile: str
    email: str
    room: LocationOut | None
    created_at: datetime

    @staticmethod
    def resolve_site(obj: Any) -> int:
        return int(obj.site_id)


class TenantIn(Schema):
    site: int
    name: Name
    mobile: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = Field(
        description="Mainland mobile number; SMS warnings go there."
    )
    contact_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] = ""
    room: int | None = Field(None, description="The room's location id (same site).")
    reason: Reason = ""


class AccountOut(Schema):
    id: int
    site: int
    tenant: int
    tenant_name: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    balance: DecimalOut
    on_meter: DecimalOut = Field(
        description="Credit on meter-side meters by the ledger (sent or taken over, not yet "
        "used when last reconciled); balance + on_meter is all the tenant's credit."
    )
    currency: str
    alarm_level: int
    alarm1_threshold: DecimalOut | None
    alarm2_threshold: DecimalOut | None
    overdraft_limit: DecimalOut | None
    reconnect_minimum: DecimalOut | None
    keep_power: bool
    metering_points: list[int] = Field(description="The points the account pays for now.")

    @staticmethod
    def resolve_site(obj: Any) -> int:
        return int(obj.tenant.site_id)

    @staticmethod
    def resolve_tenant(obj: Any) -> int:
        return int(obj.tenant_id)

    @staticmethod
    def resolve_tenant_name(obj: Any) -> str:
        return str(obj.tenant.name)

    @staticmethod
    def resolve_balance(obj: Any) -> Any:
        return obj.wallet_balance if obj.wallet_balance is not None else "0.00"

    @staticmethod
    def resolve_currency(obj: Any) -> str:
        return str(obj.tenant.site.currency)

    @staticmethod
    def resolve_alarm_level(obj: Any) -> int:
        state = getattr(obj, "prepaid_state", None)
        return int(state.alarm) if state is not None else 0

    @staticmethod
    def resolve_metering_points(obj: Any) -> list[int]:
        return [link.metering_point_id for link in obj.links.all() if link.released_at is None]


class AccountIn(Schema):
    """Open an account on metering points; optionally sell the first credit at once."""

    tenant: int
    metering_points: list[int] = Field(
        min_length=1,
        max_length=MAX_POINTS_AN_ACCOUNT,
        description=f"Metering point ids (at most {MAX_POINTS_AN_ACCOUNT}).",
    )
    alarm1_threshold: DecimalIn | None = Field(None, description="Empty: the site's default.")
    alarm2_threshold: DecimalIn | None = None
    overdraft_limit: DecimalIn | None = None
    reconnect_minimum: DecimalIn | None = None
    keep_power: bool = False
    first_purchase: PurchaseIn | None = None
    reason: Reason = ""


#: Which meter-side point of the account a meter-credit request is about.
MeterSidePoint = Annotated[
    int | None, Field(description="The meter-side metering point; empty: the account's only one.")
]


class RecallIn(Schema):
    """Recall the credit a meter-side meter holds: trip, read, clear, back to the balance."""

    point: MeterSidePoint = None
    reason: RequiredReason
    idempotency_key: IdempotencyKey | None = Field(
        None, description="Optional: a retried request with the same key recalls once."
    )


class RecallOut(Schema):
    """A recall and where it is: pending → confirmed | failed."""

    account: int
    point: int
    command: int = Field(description="The clear_credit command (see /api/commands/{id}).")
    state: Literal["pending", "confirmed", "failed"]
    held: DecimalOut | None = Field(description="What the meter held just before the clear.")
    returned: DecimalOut | None = Field(description="What went back to the prepaid balance.")
    drift: DecimalOut | None = Field(
        description="What the meter held beyond what PEMS sent: flagged, never booked."
    )
    failure_reason: str
    requested_at: datetime
    completed_at: datetime | None


class MeterCreditOut(Schema):
    """A meter-side meter's credit as last reconciled with the ledger (each new reading once)."""

    account: int
    point: int
    read_at: datetime = Field(description="The reading last reconciled.")
    reported: DecimalOut | None = Field(
        description="The credit the meter reported then (empty: no reading compared yet)."
    )
    expected: DecimalOut | None = Field(
        description="What PEMS expected it to hold, before that reading's use was booked."
    )
    drift: DecimalOut = Field(
        description="Credit beyond what PEMS sent: flagged, never booked unless taken over."
    )
    on_meter: DecimalOut = Field(
        description="The meter credit in the ledger now: sent or taken over, not yet used."
    )
    reconciled_at: datetime


class TakeoverIn(AmountIn):
    """Take over credit found on a meter as the tenant's: never more than the drift of the
    last reading PEMS reconciled, and refused before its first."""

    point: MeterSidePoint = None
    reason: RequiredReason
    idempotency_key: IdempotencyKey = Field(
        description="Unique per takeover: a retried request with the same key books once."
    )


class TakeoverOut(Schema):
    entry: int = Field(description="The meter-takeover journal entry.")
    account: int
    point: int
    amount: DecimalOut
    on_meter: DecimalOut = Field(description="The meter credit in the ledger after it.")
    created_at: datetime


class ThresholdsIn(Schema):
    """The account's own values to change; a field left out stays, null falls back on the
    site's default."""

    alarm1_threshold: DecimalIn | None = Field(None, description="null: the site's default.")
    alarm2_threshold: DecimalIn | None = Field(None, description="null: the site's default.")
    overdraft_limit: DecimalIn | None = Field(None, description="null: the site's default.")
    reconnect_minimum: DecimalIn | None = Field(None, description="null: the site's default.")
    reason: RequiredReason


class ThresholdsOut(Schema):
    account: AccountOut
    meters_told: int = Field(description="SET_ALARMS commands queued to meter-side meters.")


class ClosureIn(Schema):
    """Close the account with a final settlement: refund what is left, or collect what is due."""

    reason: RequiredReason
    channel: Channel = Field(
        Channel.CASH, description="How the refund is paid or the amount due collected."
    )
    idempotency_key: IdempotencyKey = Field(
        description="A retried request with the same key answers 200 with the closing."
    )


class ClosureOut(Schema):
    account: int
    status: Literal["closed"]
    refunded: DecimalOut = Field(description="Paid back to the tenant (0.00 if nothing).")
    collected: DecimalOut = Field(description="Collected from the tenant (0.00 if nothing).")
    currency: str
    closed_at: datetime
