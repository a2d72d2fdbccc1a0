"""Reading tariffs from TOML text (format documented in docs/tariffs.md).

``load_tariff(text)`` parses with :mod:`tomllib` (numbers become Decimal,
never float) and validates everything, reporting *all* problems at once as a
:class:`TariffFileError` whose problems name the field path, e.g.
``versions[1].tou.periods[3].start: 25:00 is not a time (HH:MM)``. Each is a
marked English template with its values (:class:`~pems.domain.errors.FileProblem`),
shown in the reader's language by the Django side.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pems.domain._fields import Invalid, Problems
from pems.domain._toml import syntax_problem
from pems.domain.calendar import DayCalendar, DayType
from pems.domain.errors import CurrencyError, DomainError, TariffError, TariffFileError
from pems.domain.messages import Message, Param, gettext_noop
from pems.domain.money import Money, minor_unit
from pems.domain.quantities import Unit
from pems.domain.tariff import IN_VERSION, ChargePeriod, FixedCharge, Tariff, TariffVersion
from pems.domain.tiers import AT_TIER, BillingCycle, Tier, TierTable
from pems.domain.tou import DaySchedule, DayTypeSchedules, Period, Rate, Season, TouPlan

_TOP = {"name", "currency", "unit", "timezone", "billing_cycle", "calendar", "versions"}
_UTC = ZoneInfo("UTC")
_VERSION = {"id", "effective_from", "prices", "tou", "tiers", "fixed", "service_fee_ratio"}


def load_tariff(text: str, source: str = "<tariff>", default_currency: str = "CNY") -> Tariff:
    """Parse and validate a tariff file's text."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise TariffFileError(source, [syntax_problem(error)]) from None
    check = Problems()
    try:
        tariff = _tariff(check, data, default_currency)
    except Invalid:
        tariff = None
    if check.items or tariff is None:
        raise TariffFileError(source, check.items)
    return tariff


def _tariff(check: Problems, data: Mapping[str, Any], default_currency: str) -> Tariff:
    top = check.table(data, "", _TOP)
    name = check.attempt(lambda: check.text(check.get(top, "name", ""), "name"))
    currency = check.attempt(
        lambda: _currency(check, check.get(top, "currency", "", default_currency))
    )
    unit = check.attempt(lambda: _unit(check, check.get(top, "unit", "", "kWh")))
    zone = check.attempt(lambda: _zone(check, check.get(top, "timezone", "")))
    cycle = check.attempt(
        lambda: check.choice(
            check.get(top, "billing_cycle", "", "month"), "billing_cycle", BillingCycle
        )
    )
    calendar = check.attempt(lambda: _calendar(check, check.get(top, "calendar", "", {})))
    raw_versions = check.get(top, "versions", "")
    if not isinstance(raw_versions, list) or not raw_versions:
        check.fail("versions", gettext_noop("need at least one [[versions]] table"))
    versions = check.each(
        raw_versions,
        "versions",
        lambda v, p: _version(check, v, p, zone or _UTC, currency or "CNY"),
    )
    if (
        check.items
        or name is None
        or currency is None
        or unit is None
        or zone is None
        or cycle is None
        or calendar is None
    ):
        raise Invalid
    try:
        return Tariff(name, currency, unit, zone, tuple(versions), calendar, cycle)
    except TariffError as error:
        check.fail("versions", error.message)


def _inside(message: Message, wrapper: str) -> tuple[dict[str, Param], Message]:
    """``(wrapper's values, inner problem)`` of a message made by ``wrapper``; else ``({}, it)``."""
    values = dict(message.params)
    problem = values.get("problem")
    if message.template != wrapper or not isinstance(problem, Message):
        return {}, message
    return values, problem


def _currency(check: Problems, value: object) -> str:
    currency = check.text(value, "currency").upper()
    try:
        minor_unit(currency)
    except CurrencyError:
        check.fail("currency", gettext_noop("unknown currency '%(currency)s'"), currency=currency)
    return currency


def _zone(check: Problems, value: object) -> ZoneInfo:
    name = check.text(value, "timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        check.fail("timezone", gettext_noop("'%(name)s' is not an IANA time zone"), name=name)


def _unit(check: Problems, value: object) -> Unit:
    text = check.text(value, "unit")
    try:
        return Unit.parse(text)
    except ValueError:
        check.fail("unit", gettext_noop("'%(value)s' is not a unit (kWh or m3)"), value=text)


def _calendar(check: Problems, value: object) -> DayCalendar:
    fields = {"chinese_holidays", "fallback_to_weekends", "holidays", "workdays", "weekends"}
    table = check.table(value, "calendar", fields)
    overrides: dict[date, DayType] = {}
    for key, kind in (("workdays", DayType.WORKDAY), ("weekends", DayType.WEEKEND)):
        for day in check.each(check.get(table, key, "", []), f"calendar.{key}", check.day):
            overrides[day] = kind
    for day in check.each(check.get(table, "holidays", "", []), "calendar.holidays", check.day):
        overrides[day] = DayType.HOLIDAY
    flags = []
    for key, default in (("chinese_holidays", True), ("fallback_to_weekends", False)):
        flag = check.get(table, key, "calendar", default)
        if not isinstance(flag, bool):
            check.fail(f"calendar.{key}", gettext_noop("expected true or false"))
        flags.append(flag)
    return DayCalendar(flags[0], MappingProxyType(overrides), flags[1])


def _effective(check: Problems, value: object, path: str, zone: ZoneInfo) -> datetime:
    """A site-local date (midnight) or local datetime, made aware in the site zone."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value
        return value.replace(tzinfo=zone)
    if isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            check.fail(path, gettext_noop("%(value)s is not a date or datetime"), value=value)
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    return datetime.combine(check.day(value, path), time(0), tzinfo=zone)


def _version(
    check: Problems, value: object, path: str, zone: ZoneInfo, currency: str
) -> TariffVersion:
    table = check.table(value, path, _VERSION)
    problems_before = len(check.items)
    ident = check.attempt(lambda: check.text(check.get(table, "id", path), f"{path}.id"))
    start = check.attempt(
        lambda: _effective(
            check, check.get(table, "effective_from", path), f"{path}.effective_from", zone
        )
    )
    prices = check.attempt(lambda: _prices(check, check.get(table, "prices", path), path))
    tou = (
        check.attempt(lambda: _tou(check, table["tou"], f"{path}.tou")) if "tou" in table else None
    )
    tiers = (
        check.attempt(lambda: _tiers(check, table["tiers"], f"{path}.tiers"))
        if "tiers" in table
        else None
    )
    fixed = check.each(
        check.get(table, "fixed", path, []),
        f"{path}.fixed",
        lambda v, p: _fixed(check, v, p, currency),
    )
    ratio = check.attempt(
        lambda: check.decimal(
            check.get(table, "service_fee_ratio", path, 0), f"{path}.service_fee_ratio"
        )
    )
    if len(check.items) > problems_before or ident is None or start is None or prices is None:
        raise Invalid
    try:
        return TariffVersion(ident, start, prices, tou, tiers, tuple(fixed), ratio or Decimal(0))
    except (TariffError, DomainError) as error:
        check.fail(path, _inside(error.message, IN_VERSION)[1])


def _prices(check: Problems, value: object, path: str) -> Mapping[Rate, Decimal]:
    table = check.table(value, f"{path}.prices", Rate)
    return MappingProxyType(
        {
            check.choice(k, f"{path}.prices", Rate): check.decimal(
                v, f"{path}.prices.{k}", Decimal(0)
            )
            for k, v in table.items()
        }
    )


def _fixed(check: Problems, value: object, path: str, currency: str) -> FixedCharge:
    table = check.table(value, path, {"name", "amount", "per"})
    name = check.text(check.get(table, "name", path), f"{path}.name")
    amount = check.decimal(check.get(table, "amount", path), f"{path}.amount", Decimal(0))
    per = check.choice(check.get(table, "per", path), f"{path}.per", ChargePeriod)
    try:
        return FixedCharge(name, Money(amount, currency), per)
    except DomainError as error:
        check.fail(f"{path}.amount", error.message)


def _tiers(check: Problems, value: object, path: str) -> TierTable:
    if not isinstance(value, list):
        check.fail(path, gettext_noop("expected a list of { up_to = …, surcharge = … }"))

    def tier(item: object, where: str) -> Tier:
        table = check.table(item, where, {"up_to", "surcharge"})
        up_to = table.get("up_to")
        bound = None if up_to is None else check.decimal(up_to, f"{where}.up_to", Decimal(0))
        return Tier(
            bound, check.decimal(check.get(table, "surcharge", where, 0), f"{where}.surcharge")
        )

    tiers = check.each(value, path, tier)
    try:
        return TierTable(tuple(tiers))
    except TariffError as error:
        where, problem = _inside(error.message, AT_TIER)
        check.fail(f"{path}[{where['index']}].up_to" if where else path, problem)


def _tou(check: Problems, value: object, path: str) -> TouPlan:
    table = check.table(value, path, {"periods", "days", "default", "seasons"})
    days: dict[str, DaySchedule] = {}
    if "periods" in table:
        days[""] = _day(check, table["periods"], f"{path}.periods")
    for key, day in check.table(table.get("days", {}), f"{path}.days").items():
        try:
            days[key] = _named_day(check, day, f"{path}.days.{key}")
        except Invalid:
            continue
    default = _choose(check, table.get("default", {}), f"{path}.default", days)
    seasons = check.each(
        table.get("seasons", []), f"{path}.seasons", lambda v, p: _season(check, v, p, days)
    )
    try:
        return TouPlan(default, tuple(seasons))
    except TariffError as error:
        check.fail(f"{path}.seasons", error.message)


def _named_day(check: Problems, value: object, path: str) -> DaySchedule:
    table = check.table(value, path, {"periods"})
    return _day(check, check.get(table, "periods", path), f"{path}.periods")


def _day(check: Problems, value: object, path: str) -> DaySchedule:
    if not isinstance(value, list):
        check.fail(path, gettext_noop("expected a list of { start, end, rate }"))

    def period(item: object, where: str) -> Period:
        table = check.table(item, where, {"start", "end", "rate"})
        return Period(
            check.clock(check.get(table, "start", where), f"{where}.start"),
            check.clock(check.get(table, "end", where), f"{where}.end", allow_24=True),
            check.choice(check.get(table, "rate", where), f"{where}.rate", Rate),
        )

    periods = check.each(value, path, period)
    if len(periods) != len(value):
        raise Invalid
    try:
        return DaySchedule(tuple(periods))
    except TariffError as error:
        check.fail(path, error.message)


def _choose(
    check: Problems, value: object, path: str, days: Mapping[str, DaySchedule]
) -> DayTypeSchedules:
    """Day schedules per day type by name; weekend defaults to workday, holiday to weekend."""
    table = check.table(value, path, {"workday", "weekend", "holiday"})
    chosen: dict[str, DaySchedule] = {}
    previous = "" if "" in days else None
    for kind in ("workday", "weekend", "holiday"):
        name = table.get(kind, previous)
        if name is None:
            template = gettext_noop("required field is missing (name a day in tou.days)")
            check.fail(f"{path}.{kind}", template)
        if not isinstance(name, str) or name not in days:
            template = gettext_noop("%(value)s is not a day in tou.days")
            check.fail(f"{path}.{kind}", template, value=repr(name))
        chosen[kind] = days[name]
        previous = name
    return DayTypeSchedules(chosen["workday"], chosen["weekend"], chosen["holiday"])


def _season(check: Problems, value: object, path: str, days: Mapping[str, DaySchedule]) -> Season:
    table = check.table(value, path, {"name", "from", "to", "workday", "weekend", "holiday"})
    name = check.text(check.get(table, "name", path), f"{path}.name")
    bounds = []
    for key in ("from", "to"):
        raw = check.text(check.get(table, key, path), f"{path}.{key}")
        try:
            month, day = (int(part) for part in raw.split("-"))
            date(2000, month, day)
        except ValueError:
            check.fail(
                f"{path}.{key}", gettext_noop("%(value)s is not a month-day (MM-DD)"), value=raw
            )
        bounds.append((month, day))
    schedules = _choose(
        check,
        {k: v for k, v in table.items() if k in {"workday", "weekend", "holiday"}},
        path,
        days,
    )
    return Season(name, bounds[0], bounds[1], schedules)
