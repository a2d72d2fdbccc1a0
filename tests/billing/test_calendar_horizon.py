"""Which tariffs stop settling when the holiday calendar runs out, or fall back to plain
weekends without that year's dates, from when, for how many.

Independent of today's date and of the installed chinesecalendar: the clock is
travelled and the library's last known year is fixed at 2026, so 2027-01-01 is
the first day a tariff that depends on the day type cannot price (or, with
``fallback_to_weekends``, prices by plain weekends).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from pems import examples
from pems.billing import calendar_horizon
from pems.billing.calendar_horizon import calendar_outlook, falls_back_on, stops_on
from pems.billing.checks import holiday_calendar_horizon
from pems.billing.tariffs import assign_tariff, create_tariff, parse, priced, revise_tariff
from tests.billing.scenarios import flat_tariff_document
from tests.factories import AccountFactory, SiteFactory

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
KNOWN = 2026
STOP = dt.date(2027, 1, 1)
#: Four rates, a summer season, offday schedules on weekends and holidays; Chinese holidays.
TOU = (Path(examples.__file__).parent / "tariffs" / "tou.toml").read_text("utf-8")
FALLBACK = TOU.replace("chinese_holidays = true", "fallback_to_weekends = true")  # still Chinese
#: FALLBACK with New Year's Day 2027 entered: the manager has added that year's dates.
FALLBACK_2027 = FALLBACK.replace("holidays = [2025-12-25]", "holidays = [2025-12-25, 2027-01-01]")
NO_HOLIDAYS = TOU.replace("chinese_holidays = true", "chinese_holidays = false")
#: Only the summer's workdays differ from weekends and holidays.
SUMMER_ONLY = TOU.replace(
    'weekend = "offday"\nholiday = "offday"\n\n[[',
    'weekend = "normal"\nholiday = "normal"\n\n[[',
    1,
)
#: The TOU version gives way to a flat one before the calendar runs out.
FLAT_FROM_DECEMBER = (
    TOU
    + """
[[versions]]
id = "flat"
effective_from = 2026-12-01
prices = { flat = 0.7 }
"""
)


def at(*args: int) -> dt.datetime:
    """A site-local (Asia/Shanghai) moment."""
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _calendar_knows_2026(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calendar_horizon, "last_known_year", lambda: KNOWN)


SINCE = at(2025, 1, 1)


def accounts_on(tariff, count: int, since: dt.datetime = SINCE) -> list:
    accounts = [AccountFactory(tenant__site=tariff.site) for _ in range(count)]
    for account in accounts:
        assign_tariff(account, tariff, since, actor="test")
    return accounts


def close(account) -> None:
    type(account).objects.filter(pk=account.pk).update(status="closed", closed_at=timezone.now())


def shown(site, moment: dt.datetime, **kwargs) -> dict[str, tuple[dt.date, int, bool]]:
    """The tariffs that stop settling: first day, open accounts, whether stopped."""
    with time_machine.travel(moment, tick=False):
        outlook = calendar_outlook([site], **kwargs)
    assert outlook.known_until == KNOWN
    return {s.tariff.name: (s.stops_on, s.open_accounts, s.stopped) for s in outlook.tariffs}


def falling(site, moment: dt.datetime, **kwargs) -> dict[str, tuple[dt.date, int]]:
    """The tariffs that fall back to plain weekends without the year's dates."""
    with time_machine.travel(moment, tick=False):
        outlook = calendar_outlook([site], **kwargs)
    return {f.tariff.name: (f.falls_back_on, f.open_accounts) for f in outlook.falling_back}


@pytest.fixture
def site():
    """Tariffs of every kind, each with open accounts, and one only closed accounts use."""
    site = SiteFactory(name="North Plaza")
    accounts_on(create_tariff(site, "Plaza TOU", TOU, actor="test"), 3)
    accounts_on(create_tariff(site, "Flat", flat_tariff_document(), actor="test"), 2)
    accounts_on(create_tariff(site, "Fallback TOU", FALLBACK, actor="test"), 1)
    accounts_on(create_tariff(site, "Weekday TOU", NO_HOLIDAYS, actor="test"), 1)
    for account in accounts_on(create_tariff(site, "Closed TOU", TOU, actor="test"), 2):
        close(account)
    return site


def test_a_day_type_tariff_with_open_accounts_is_named_from_november_not_in_october(site):
    assert shown(site, at(2026, 10, 31, 23, 59)) == {}
    assert shown(site, at(2026, 11, 1, 0, 1)) == {"Plaza TOU": (STOP, 3, False)}
    assert shown(site, at(2026, 12, 31, 23, 59)) == {"Plaza TOU": (STOP, 3, False)}


def test_the_site_local_date_decides_the_window_and_today_may_be_given(site):
    # 2026-11-01 00:30 in Shanghai is still 31 October in UTC
    assert shown(site, dt.datetime(2026, 10, 31, 16, 30, tzinfo=dt.UTC)) != {}
    assert shown(site, at(2026, 6, 1), today=dt.date(2026, 11, 1)) != {}
    assert shown(site, at(2026, 11, 2), today=dt.date(2026, 10, 31)) == {}


def test_once_the_date_has_come_settlement_has_stopped(site):
    assert shown(site, at(2027, 1, 1, 0, 0)) == {"Plaza TOU": (STOP, 3, True)}
    assert shown(site, at(2028, 3, 1)) == {"Plaza TOU": (STOP, 3, True)}


def test_flat_fallback_weekday_only_and_closed_accounts_tariffs_do_not_stop(site):
    names = {t.name for t in site.tariffs.all()}
    assert names == {"Plaza TOU", "Flat", "Fallback TOU", "Weekday TOU", "Closed TOU"}
    assert set(shown(site, at(2026, 11, 25))) == {"Plaza TOU"}


def test_a_fallback_tariff_without_the_years_dates_is_named_apart_from_november(site):
    assert falling(site, at(2026, 10, 31, 23, 59)) == {}
    assert falling(site, at(2026, 11, 1, 0, 1)) == {"Fallback TOU": (STOP, 1)}
    # it keeps settling: still named once the date has come, and never among those that stop
    assert falling(site, at(2027, 3, 1)) == {"Fallback TOU": (STOP, 1)}
    assert "Fallback TOU" not in shown(site, at(2027, 3, 1))


def test_a_fallback_tariff_counts_open_accounts_like_a_stopping_one(site):
    fallback = site.tariffs.get(name="Fallback TOU")
    flat = site.tariffs.get(name="Flat")
    leaving, staying = accounts_on(fallback, 2)
    assign_tariff(leaving, flat, at(2026, 12, 1), actor="test")  # off it before 2027
    assign_tariff(staying, flat, at(2027, 2, 1), actor="test")  # still on it on 1 January
    (coming,) = accounts_on(flat, 1)
    assign_tariff(coming, fallback, at(2027, 6, 1), actor="test")  # joins later
    close(accounts_on(fallback, 1)[0])
    # the site's first account, the one staying into 2027 and the one coming later
    assert falling(site, at(2026, 11, 25)) == {"Fallback TOU": (STOP, 3)}


def test_a_fallback_tariff_with_a_date_of_the_year_entered_is_not_named(site):
    fallback = site.tariffs.get(name="Fallback TOU")
    revise_tariff(fallback, FALLBACK_2027, "manager", "2027 holidays", now=at(2026, 12, 1))
    assert falling(site, at(2026, 12, 1)) == {}
    assert shown(site, at(2026, 12, 1)) == {"Plaza TOU": (STOP, 3, False)}


def test_counts_open_accounts_moving_on_before_the_date_and_coming_after_it(site):
    tou = site.tariffs.get(name="Plaza TOU")
    flat = site.tariffs.get(name="Flat")
    leaving, staying = accounts_on(tou, 2)
    assign_tariff(leaving, flat, at(2026, 12, 1), actor="test")  # off TOU before 2027
    assign_tariff(staying, flat, at(2027, 2, 1), actor="test")  # still on it on 1 January
    (coming,) = accounts_on(flat, 1)
    assign_tariff(coming, tou, at(2027, 6, 1), actor="test")  # joins later
    close(accounts_on(tou, 1)[0])
    assert shown(site, at(2026, 11, 25)) == {"Plaza TOU": (STOP, 5, False)}
    # once stopped, an account that left since is still stuck on 1 January
    assert shown(site, at(2027, 3, 1)) == {"Plaza TOU": (STOP, 5, True)}


def test_another_sites_tariffs_are_not_named():
    north, south = SiteFactory(name="North"), SiteFactory(name="South")
    accounts_on(create_tariff(north, "North TOU", TOU, actor="test"), 1)
    accounts_on(create_tariff(south, "South TOU", TOU, actor="test"), 2)
    assert shown(north, at(2026, 11, 25)) == {"North TOU": (STOP, 1, False)}
    with time_machine.travel(at(2026, 11, 25), tick=False):
        both = calendar_outlook([south, north])
    assert [(s.tariff.site.name, s.open_accounts) for s in both.tariffs] == [
        ("North", 1),
        ("South", 2),
    ]


def test_two_queries_for_every_site_and_none_outside_the_window(site, django_assert_num_queries):
    other = SiteFactory()
    accounts_on(create_tariff(other, "Other TOU", TOU, actor="test"), 4)
    sites = [site, other]
    with time_machine.travel(at(2026, 11, 25), tick=False), django_assert_num_queries(2):
        outlook = calendar_outlook(sites)
    assert [s.open_accounts for s in outlook.tariffs] == [3, 4]  # by site name
    assert [f.open_accounts for f in outlook.falling_back] == [1]  # the site's Fallback TOU
    with time_machine.travel(at(2026, 7, 1), tick=False), django_assert_num_queries(0):
        outlook = calendar_outlook(sites)
    assert (outlook.tariffs, outlook.falling_back) == ((), ())


@pytest.mark.parametrize(
    ("document", "stop"),
    [
        (TOU, STOP),
        # a version that starts later stops from its own first day
        (TOU.replace("2025-01-01", "2027-03-01"), dt.date(2027, 3, 1)),
        # New Year's Day given as a holiday: the first day nobody told the calendar about
        (TOU.replace("holidays = [2025-12-25]", "holidays = [2027-01-01]"), dt.date(2027, 1, 2)),
        (SUMMER_ONLY, dt.date(2027, 7, 1)),
        (FALLBACK, None),
        (NO_HOLIDAYS, None),
        (flat_tariff_document(), None),
        (FLAT_FROM_DECEMBER, None),
    ],
)
def test_the_first_day_a_tariff_cannot_price(document, stop):
    assert stops_on(parse(document, SiteFactory.build()), STOP) == stop


def fallback(document: str) -> str:
    return document.replace("chinese_holidays = true", "fallback_to_weekends = true")


@pytest.mark.parametrize(
    ("document", "day"),
    [
        (FALLBACK, STOP),
        # a date of the year entered, holiday or make-up workday: the year is handled
        (FALLBACK_2027, None),
        (FALLBACK.replace("workdays = []", "workdays = [2027-02-07]"), None),
        # dates of another year do not count
        (FALLBACK.replace("holidays = [2025-12-25]", "holidays = [2026-10-09]"), STOP),
        (fallback(TOU.replace("2025-01-01", "2027-03-01")), dt.date(2027, 3, 1)),
        (fallback(SUMMER_ONLY), dt.date(2027, 7, 1)),
        # schedules that do not depend on the day type need no holidays
        (fallback(FLAT_FROM_DECEMBER), None),
        (flat_tariff_document(extra="[calendar]\nfallback_to_weekends = true"), None),
        (fallback(NO_HOLIDAYS), None),
        # without the fallback it stops instead
        (TOU, None),
    ],
)
def test_the_first_day_a_fallback_tariff_prices_by_plain_weekends(document, day):
    assert falls_back_on(parse(document, SiteFactory.build()), STOP) == day


def test_the_system_check_uses_the_same_dates():
    with time_machine.travel(at(2026, 10, 31, 12), tick=False):
        assert holiday_calendar_horizon() == []
    with time_machine.travel(at(2026, 11, 1, 12), tick=False):
        (warning,) = holiday_calendar_horizon()
    assert warning.id == "pems.W001"
    assert "up to 2026 only" in warning.msg
    assert "will stop settling on 2027-01-01" in warning.msg
    with time_machine.travel(at(2027, 1, 2, 12), tick=False):
        (warning,) = holiday_calendar_horizon()
    assert "have stopped settling since 2027-01-01" in warning.msg


def test_a_tariff_revised_with_fallback_is_no_longer_named(site):
    tou = site.tariffs.get(name="Plaza TOU")
    assert stops_on(priced(tou), STOP) == STOP
    fixed = FALLBACK.replace("holidays = [2025-12-25]", "holidays = [2025-12-25, 2027-01-01]")
    assert shown(site, at(2026, 12, 1)) == {"Plaza TOU": (STOP, 3, False)}
    revise_tariff(tou, fixed, "manager", "2027 holidays", now=at(2026, 12, 1))
    assert shown(site, at(2026, 12, 1)) == {}
    assert "Plaza TOU" not in falling(site, at(2026, 12, 1))


def test_a_tariff_revised_with_fallback_alone_no_longer_stops_but_falls_back(site):
    tou = site.tariffs.get(name="Plaza TOU")
    revise_tariff(tou, FALLBACK, "manager", "fallback", now=at(2026, 12, 1))
    assert shown(site, at(2026, 12, 1)) == {}
    assert falling(site, at(2026, 12, 1)) == {"Fallback TOU": (STOP, 1), "Plaza TOU": (STOP, 3)}
