"""Sites, gateways, meters and metering points (with live and prepaid state)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

from django.utils.translation import gettext as _
from ninja import Field, Schema
from pydantic import AfterValidator, StringConstraints

from pems.api.schemas.common import (
    DecimalIn,
    DecimalOut,
    IdempotencyKey,
    Reason,
    RequiredReason,
)
from pems.metering.models import ENERGY_PLACES


def _site_clock(value: time) -> time:
    """A wall-clock time of the site, to the minute (what a period is set in)."""
    if value.tzinfo is not None:
        raise ValueError("a time of the site's own clock, without an offset (HH:MM)")
    if value.second or value.microsecond:
        raise ValueError("whole minutes (HH:MM)")
    return value


SiteClock = Annotated[time, AfterValidator(_site_clock)]


def _energy_total(value: str) -> str:
    """A meter's total register: never negative, to the resolution PEMS stores (1 Wh)."""
    number = Decimal(value)
    if number < 0:
        raise ValueError(_("Energy registers cannot be negative."))
    if number != number.quantize(Decimal(1).scaleb(-ENERGY_PLACES)):
        raise ValueError(
            _("%(value)s has more than %(places)s decimal places.")
            % {"value": value, "places": ENERGY_PLACES}
        )
    return value


#: A meter's total (kWh or m³) as a decimal string, ``"907.500"``: not negative, 3 decimals.
EnergyTotalIn = Annotated[DecimalIn, AfterValidator(_energy_total)]
#: The largest purchase count a new meter may arrive with (the carried credit is one more).
MAX_PURCHASE_COUNT = 2**31 - 2


class KeepPowerPeriodIn(Schema):
    """A new keep-power period: from–until on the site's clock, on the kinds of day ticked."""

    start: SiteClock
    end: SiteClock = Field(
        description="The same as start: the whole day. Before start: ends the next day."
    )
    on_workdays: bool = True
    on_weekends: bool = True
    on_holidays: bool = Field(True, description="Chinese statutory holidays.")
    reason: Reason


class KeepPowerPeriodOut(Schema):
    """A time the site's meters are not tripped for lack of credit (保电时段), site clock."""

    id: int
    start: time
    end: time = Field(description="The same as start: the whole day.")
    on_workdays: bool
    on_weekends: bool
    on_holidays: bool = Field(description="Chinese statutory holidays.")
    reason: str


class SiteOut(Schema):
    id: int
    name: str
    time_zone: str
    currency: str
    locale: str
    default_alarm1_threshold: DecimalOut
    default_alarm2_threshold: DecimalOut
    default_overdraft_limit: DecimalOut
    default_reconnect_minimum: DecimalOut
    keep_power_periods: list[KeepPowerPeriodOut]

    @staticmethod
    def resolve_keep_power_periods(obj: Any) -> list[Any]:
        return list(obj.keep_power_periods.all())  # prefetched by the router


class SiteDefaultsIn(Schema):
    """A site's default thresholds: each applies to every account without one of its own."""

    alarm1_threshold: DecimalIn = Field(description="Alarm 1 below this credit; above alarm 2.")
    alarm2_threshold: DecimalIn = Field(description="Alarm 2 below this credit.")
    overdraft_limit: DecimalIn = Field(description="Credit a tenant may use below zero.")
    reconnect_minimum: DecimalIn = Field(
        description="A tripped meter is closed again once the credit is above this."
    )
    reason: RequiredReason


class SiteDefaultsOut(Schema):
    """The site as saved, and how many meter-side meters were sent the new thresholds."""

    site: SiteOut
    meters_told: int = Field(
        description="SET_ALARMS commands queued: meter-side meters relying on a changed default."
    )


class LocationOut(Schema):
    id: int
    kind: str
    name: str
    path: str

    @staticmethod
    def resolve_path(obj: Any) -> str:
        return str(obj)


class GatewayOut(Schema):
    id: int
    site: int
    name: str
    host: str
    port: int
    protocol: str
    baud: int
    parity: str
    enabled: bool
    location: LocationOut | None

    @staticmethod
    def resolve_site(obj: Any) -> int:
        return int(obj.site_id)


class MeterOut(Schema):
    id: int
    site: int
    gateway: int
    address: int
    display_address: str
    address_count: int
    number: str
    model: str
    location: LocationOut | None
    ct_ratio: int
    pt_ratio: int
    installed_on: date | None
    removed_on: date | None

    @staticmethod
    def resolve_site(obj: Any) -> int:
        return int(obj.gateway.site_id)

    @staticmethod
    def resolve_gateway(obj: Any) -> int:
        return int(obj.gateway_id)

    @staticmethod
    def resolve_model(obj: Any) -> str:
        return str(obj.model.code)


class PointStateOut(Schema):
    """The latest good reading; values the meter did not report are null, never zero."""

    online: bool
    read_at: datetime | None
    last_seen: datetime | None
    offline_since: datetime | None
    energy_total: DecimalOut | None
    energy_sharp: DecimalOut | None
    energy_peak: DecimalOut | None
    energy_flat: DecimalOut | None
    energy_valley: DecimalOut | None
    remaining_credit: DecimalOut | None
    purchase_count: int | None
    relay_closed: bool | None
    forced_mode: str
    alarm1: bool | None
    alarm2: bool | None
    arrears: bool | None
    fault: bool | None
    voltage_a: DecimalOut | None
    voltage_b: DecimalOut | None
    voltage_c: DecimalOut | None
    current_a: DecimalOut | None
    current_b: DecimalOut | None
    current_c: DecimalOut | None
    active_power: DecimalOut | None
    power_factor: DecimalOut | None
    meter_clock: datetime | None


class PrepaidOut(Schema):
    """The open account paying for the point, its balance now and its alarm level."""

    account: int
    balance: DecimalOut
    currency: str
    alarm_level: int
    keep_power: bool


class PointOut(Schema):
    id: int
    site: int
    meter: int
    meter_number: str
    circuit: int
    bus_address: int
    phases: int
    utility: str
    fee_control: str
    name: str
    room: LocationOut | None
    state: PointStateOut | None
    prepaid: PrepaidOut | None

    @staticmethod
    def resolve_site(obj: Any) -> int:
        return int(obj.meter.gateway.site_id)

    @staticmethod
    def resolve_meter(obj: Any) -> int:
        return int(obj.meter_id)

    @staticmethod
    def resolve_state(obj: Any) -> Any:
        return getattr(obj, "state", None)

    @staticmethod
    def resolve_prepaid(obj: Any) -> dict[str, Any] | None:
        if obj.open_account_id is None:
            return None
        return {
            "account": obj.open_account_id,
            "balance": obj.open_balance if obj.open_balance is not None else "0.00",
            "currency": obj.meter.gateway.site.currency,
            "alarm_level": obj.open_alarm or 0,
            "keep_power": bool(obj.open_keep_power),
        }


class ReplacementIn(Schema):
    """An electrician's meter exchange (换表): what both meters read when it was made."""

    new_meter_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)
    ] = Field(description="As printed on the new meter's nameplate (1–16 digits).")
    old_final_total: EnergyTotalIn = Field(
        description="The old meter's final total (kWh, m³ for water): the point is settled "
        "up to it."
    )
    old_remaining_credit: DecimalIn | None = Field(
        None,
        description="Meter-side points: the credit the old meter still shows, carried to the "
        "new one (required when an account pays for the point). Server-side points: leave "
        "it out.",
    )
    new_initial_total: EnergyTotalIn = Field(
        description="The new meter's total as installed: where its billing starts."
    )
    new_purchase_count: int = Field(
        0,
        ge=0,
        le=MAX_PURCHASE_COUNT,
        description="Meter-side points: the new meter's purchase count as installed (the "
        "carried credit is sent as the next). Server-side points: leave it out.",
    )
    reason: RequiredReason
    idempotency_key: IdempotencyKey = Field(
        description="A retried request with the same key answers 200 with the replacement."
    )


class ReplacementOut(Schema):
    point: int
    old_meter: str = Field(description="The replaced meter's number (kept, with removed_on).")
    new_meter: str = Field(description="The new meter's number.")
    charged: DecimalOut | None = Field(
        description="Server-side points: charged up to the old meter's final total; null "
        "when no account pays for the point or its meter was never read."
    )
    carried_credit: DecimalOut | None = Field(
        description="Meter-side points with an account: the credit carried to the new meter, "
        "what the old one still held and the credit of sales not yet sent to it (0.00 if "
        "none). Otherwise null."
    )
    push_command: int | None = Field(
        description="The command pushing the carried credit to the new meter (see "
        "/api/commands/{id}); null if none."
    )
    currency: str
    replaced_at: datetime
