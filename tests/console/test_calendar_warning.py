"""The dashboard warns the people who may revise tariffs before the holiday calendar runs out.

The clock is travelled and the holiday library's last known year fixed at 2026, so the
tests do not depend on today's date or on the installed chinesecalendar.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse

from pems import examples
from pems.billing import calendar_horizon
from pems.billing.tariffs import assign_tariff, create_tariff
from tests import factories

pytestmark = pytest.mark.django_db

TOU = (Path(examples.__file__).parent / "tariffs" / "tou.toml").read_text("utf-8")
FALLBACK = TOU.replace("chinese_holidays = true", "fallback_to_weekends = true")
NOVEMBER = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
JANUARY = dt.datetime(2027, 1, 5, 10, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _calendar_knows_2026(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calendar_horizon, "last_known_year", lambda: 2026)


@pytest.fixture
def tou(plaza):
    """The plaza's TOU tariff with two open accounts; the other site has one of its own."""
    tariff = create_tariff(plaza.site, "Plaza TOU", TOU, actor="setup")
    for _ in range(2):
        account = factories.AccountFactory(tenant__site=plaza.site)
        assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="setup")
    far = create_tariff(plaza.other_site, "Far TOU", TOU, actor="setup")
    account = factories.AccountFactory(tenant__site=plaza.other_site)
    assign_tariff(account, far, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="setup")
    return tariff


@pytest.fixture
def fallback(plaza):
    """The plaza's TOU tariff that falls back to weekends, with one open account."""
    tariff = create_tariff(plaza.site, "Mall TOU", FALLBACK, actor="setup")
    account = factories.AccountFactory(tenant__site=plaza.site)
    assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="setup")
    return tariff


def dashboard(login, role: str, moment: dt.datetime = NOVEMBER, **kwargs):
    with time_machine.travel(moment, tick=False):
        response = login(role, **kwargs).get(reverse("console:dashboard"))
    assert response.status_code == 200
    return response


def test_a_manager_sees_the_tariff_its_open_accounts_the_date_and_what_to_do(login, tou):
    response = dashboard(login, "manager")
    page = html.unescape(response.content.decode())
    assert 'id="calendar-warning"' in page
    assert "Tariffs that need the public holidays of 2027" in page
    link = reverse("console:tariff-detail", args=[tou.pk])
    assert f'<a href="{link}">Plaza TOU</a> · North Plaza:' in page
    assert "settlement stops on 2027-01-01 for 2 open accounts" in page
    assert "knows public holidays up to 2026 only" in page
    assert "<code>fallback_to_weekends = true</code>" in page
    assert "make-up workdays" in page
    assert "Far TOU" not in page  # the other site's, which this manager does not manage
    (shown,) = response.context["dashboard"].calendar.tariffs
    assert (shown.tariff, shown.open_accounts, shown.stopped) == (tou, 2, False)


def test_after_the_date_it_says_settlement_has_stopped(login, tou):
    page = html.unescape(dashboard(login, "manager", JANUARY).content.decode())
    assert "settlement has stopped since 2027-01-01 for 2 open accounts" in page


def test_a_manager_of_every_site_sees_both_and_the_site_picker_narrows(login, tou, plaza):
    with time_machine.travel(NOVEMBER, tick=False):
        client = login("manager", all_sites=True)
        both = client.get(reverse("console:dashboard")).context["dashboard"].calendar
        one = client.get(reverse("console:dashboard"), {"site": plaza.other_site.pk})
    assert [s.tariff.name for s in both.tariffs] == ["Plaza TOU", "Far TOU"]
    assert [s.tariff.name for s in one.context["dashboard"].calendar.tariffs] == ["Far TOU"]


MILDER = (
    "These tariffs count the days of 2027 the holiday calendar does not know as plain "
    "Saturday/Sunday weekends (<code>fallback_to_weekends = true</code>): they keep settling, "
    "but price that year's public holidays and make-up workdays (调休) as ordinary weekdays "
    "and weekends until those dates are added to the tariff's calendar."
)


def test_a_manager_sees_a_fallback_tariff_apart_with_its_link_and_a_milder_text(
    login, tou, fallback
):
    response = dashboard(login, "manager")
    page = html.unescape(response.content.decode())
    assert 'class="message warning" id="calendar-warning" role="alert"' in page
    stopping, falling_back = page.split('class="calendar-fallback"')
    assert "Plaza TOU" in stopping
    assert "Mall TOU" not in stopping
    link = reverse("console:tariff-detail", args=[fallback.pk])
    assert f'<a href="{link}">Mall TOU</a> · North Plaza:' in falling_back
    assert (
        "keeps settling, but prices public holidays and make-up workdays as ordinary days "
        "from 2027-01-01 for 1 open account</li>" in falling_back
    )
    assert MILDER in falling_back
    assert "<code>holidays</code> and <code>workdays</code>" in falling_back
    calendar = response.context["dashboard"].calendar
    assert [s.tariff for s in calendar.tariffs] == [tou]
    (shown,) = calendar.falling_back
    assert (shown.tariff, shown.falls_back_on, shown.open_accounts) == (
        fallback,
        dt.date(2027, 1, 1),
        1,
    )


def test_with_fallback_tariffs_only_the_banner_is_milder_and_still_reads(login, fallback):
    page = html.unescape(dashboard(login, "manager", JANUARY).content.decode())
    assert 'class="message" id="calendar-warning" role="status"' in page
    assert "Tariffs that need the public holidays of 2027" in page
    assert "Mall TOU" in page
    assert MILDER in page
    # none of the texts about tariffs that stop settling
    assert "settlement" not in page.split('id="calendar-warning"')[1].split("</section>")[0]
    assert "have no fallback" not in page


@pytest.mark.parametrize("role", ["cashier", "operator", "readonly"])
def test_roles_that_may_not_revise_tariffs_see_no_warning(login, tou, fallback, role):
    response = dashboard(login, role)
    assert response.context["dashboard"].calendar.tariffs == ()
    assert response.context["dashboard"].calendar.falling_back == ()
    page = response.content.decode()
    assert 'id="calendar-warning"' not in page
    assert "Mall TOU" not in page


def test_no_warning_in_october(login, tou):
    october = dt.datetime(2026, 10, 20, 10, tzinfo=dt.UTC)
    assert 'id="calendar-warning"' not in dashboard(login, "manager", october).content.decode()


def test_the_warning_in_chinese(login, tou, fallback):
    with time_machine.travel(NOVEMBER, tick=False):
        client = login("manager")
        client.cookies["django_language"] = "zh-hans"
        page = html.unescape(client.get(reverse("console:dashboard")).content.decode())
    assert 'id="calendar-warning"' in page
    assert "2027-01-01" in page
    assert "调休" in page
    assert "Tariffs that need the public holidays" not in page
    assert "keeps settling" not in page
    assert "仍正常结算，但自 2027-01-01 起将法定节假日和调休上班日按普通日期计价" in page
    assert "These tariffs count the days" not in page
