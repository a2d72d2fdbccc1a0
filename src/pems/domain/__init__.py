"""Pure domain core of PEMS: money, quantities, tariffs, pricing and prepaid policy.

Nothing in this package imports Django or does I/O (enforced by import-linter).
The most used names are re-exported here; each module documents its own rules.
"""

from pems.domain.calendar import DayCalendar, DayType
from pems.domain.charges import Charges, EnergyLine, FixedLine
from pems.domain.fees import TopUpSplit, fixed_charges, split_top_up
from pems.domain.money import ROUNDING, D, Money, minor_unit, round_money
from pems.domain.policy import (
    AlarmLevel,
    Decision,
    EventKind,
    KeepPower,
    KeepPowerWindow,
    PolicyEvent,
    PolicyState,
    RelayCommand,
    RelayState,
    Thresholds,
    alarm_level,
    decide,
)
from pems.domain.pricing import MeterReading, UsageInterval, intervals_from_readings, price
from pems.domain.quantities import Quantity, Unit, kwh, m3
from pems.domain.tariff import ChargePeriod, FixedCharge, Tariff, TariffVersion
from pems.domain.tiers import BillingCycle, CycleState, Tier, TierTable
from pems.domain.tou import DaySchedule, DayTypeSchedules, Period, Rate, Season, TouPlan

__all__ = [
    "ROUNDING",
    "AlarmLevel",
    "BillingCycle",
    "ChargePeriod",
    "Charges",
    "CycleState",
    "D",
    "DayCalendar",
    "DaySchedule",
    "DayType",
    "DayTypeSchedules",
    "Decision",
    "EnergyLine",
    "EventKind",
    "FixedCharge",
    "FixedLine",
    "KeepPower",
    "KeepPowerWindow",
    "MeterReading",
    "Money",
    "Period",
    "PolicyEvent",
    "PolicyState",
    "Quantity",
    "Rate",
    "RelayCommand",
    "RelayState",
    "Season",
    "Tariff",
    "TariffVersion",
    "Thresholds",
    "Tier",
    "TierTable",
    "TopUpSplit",
    "TouPlan",
    "Unit",
    "UsageInterval",
    "alarm_level",
    "decide",
    "fixed_charges",
    "intervals_from_readings",
    "kwh",
    "m3",
    "minor_unit",
    "price",
    "round_money",
    "split_top_up",
]
