"""Keep-power periods page: list, add, remove (confirmed), refusals and scope write nothing."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.urls import reverse

from pems.audit.models import AuditEvent
from pems.billing.keep_power import PeriodSpec, add_period
from pems.billing.models import KeepPowerPeriod

pytestmark = pytest.mark.django_db

NIGHTS = {
    "start": "22:00",
    "end": "06:00",
    "on_workdays": "on",
    "reason": "night market stays lit",
}


def text(response) -> str:
    return html.unescape(response.content.decode())


def counts() -> tuple[int, int]:
    return KeepPowerPeriod.objects.count(), AuditEvent.objects.count()


def row(body: str, period: KeepPowerPeriod) -> str:
    """The table row of ``period`` (its cells), failing when the page does not list it."""
    found = re.search(rf'<tr data-period="{period.pk}">(.*?)</tr>', body, re.S)
    assert found, f"period {period.pk} is not listed"
    return found.group(1)


def add(client, site, **fields):
    return client.post(reverse("console:keep-power"), {"site": site.pk, **NIGHTS, **fields})


def remove(client, period, **fields):
    return client.post(reverse("console:keep-power-remove", args=[period.pk]), fields)


def period_at(site, start: str, end: str, **days) -> KeepPowerPeriod:
    spec = PeriodSpec(dt.time.fromisoformat(start), dt.time.fromisoformat(end), **days)
    return add_period(site, spec, actor="setup")


def test_a_manager_adds_a_night_period_and_sees_it_listed(login, plaza):
    client = login("manager")
    response = add(client, plaza.site)
    assert response.status_code == 302
    assert response.url == reverse("console:keep-power")
    period = KeepPowerPeriod.objects.get(site=plaza.site)
    assert (period.start, period.end) == (dt.time(22), dt.time(6))
    assert (period.on_workdays, period.on_weekends, period.on_holidays) == (True, False, False)
    assert period.reason == "night market stays lit"
    event = AuditEvent.objects.get(object_type="billing.keeppowerperiod", object_id=str(period.pk))
    assert event.action == "create"
    assert event.actor == client.user
    assert event.reason == "night market stays lit"

    page = client.get(response.url)
    body = text(page)
    assert "Keep-power period 22:00–06:00 added at North Plaza." in body
    assert re.search(r'id="nav-keep-power"[^>]*aria-current="page"', body)
    cells = row(body, period)
    assert "22:00–06:00" in cells
    assert "crosses midnight" in cells
    assert "workdays" in cells
    assert "weekends" not in cells
    assert "night market stays lit" in cells
    assert 'id="keep-power-empty"' not in body


def test_a_period_with_no_kind_of_day_is_refused_and_writes_nothing(login, plaza):
    client = login("manager")
    before = counts()
    response = add(client, plaza.site, on_workdays="")
    assert response.status_code == 400
    assert counts() == before
    assert response.context["form"].errors["on_workdays"] == ["Tick at least one kind of day."]
    body = text(response)
    assert 'id="keep-power-days-errors"' in body
    assert "Tick at least one kind of day." in body
    assert 'value="22:00"' in body  # what was typed is kept
    assert 'value="night market stays lit"' in body


def test_times_are_required_and_checked(login, plaza):
    client = login("manager")
    before = counts()
    response = add(client, plaza.site, start="", end="25:00")
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"start", "end"}
    assert 'id="id_start-errors"' in text(response)
    assert counts() == before


def test_removing_asks_first_then_removes_and_audits(login, plaza):
    period = period_at(plaza.site, "22:00", "06:00", reason="nights")
    client = login("manager")
    before = counts()

    asked = remove(client, period)
    assert asked.status_code == 200
    assert counts() == before  # asking removes nothing
    body = text(asked)
    assert 'id="keep-power-remove-confirm"' in body
    assert f'data-period="{period.pk}"' in body
    assert "22:00–06:00" in body

    done = remove(client, period, confirm="1", reason="market closed for good")
    assert done.status_code == 302
    assert done.url == reverse("console:keep-power")
    assert not KeepPowerPeriod.objects.filter(pk=period.pk).exists()
    event = AuditEvent.objects.get(
        object_type="billing.keeppowerperiod", object_id=str(period.pk), action="delete"
    )
    assert event.actor == client.user
    assert event.reason == "market closed for good"
    page = text(client.get(done.url))
    assert "Keep-power period 22:00–06:00 removed at North Plaza." in page
    assert f'data-period="{period.pk}"' not in page
    assert 'id="keep-power-empty"' in page

    again = remove(client, period, confirm="1")  # a second click, or a second person
    assert again.status_code == 404


def test_the_remove_address_takes_posts_only(login, plaza):
    period = period_at(plaza.site, "22:00", "06:00")
    client = login("manager")
    url = reverse("console:keep-power-remove", args=[period.pk])
    assert client.get(url).status_code == 405
    assert KeepPowerPeriod.objects.filter(pk=period.pk).exists()


@pytest.mark.parametrize("role", ["cashier", "readonly"])
def test_a_role_without_control_neither_sees_nor_changes_periods(login, plaza, role):
    period = period_at(plaza.site, "22:00", "06:00")
    client = login(role)
    assert 'id="nav-keep-power"' not in text(client.get(reverse("console:dashboard")))
    assert client.get(reverse("console:keep-power")).status_code == 403
    before = counts()
    assert add(client, plaza.site).status_code == 403
    assert remove(client, period).status_code == 403
    assert remove(client, period, confirm="1", reason="not mine").status_code == 403
    assert counts() == before
    assert KeepPowerPeriod.objects.filter(pk=period.pk).exists()


def test_an_operator_keeps_to_their_own_site(login, plaza):
    elsewhere = period_at(plaza.other_site, "12:00", "14:00", reason="southern lunch")
    client = login("operator")
    page = client.get(reverse("console:keep-power"))
    assert page.status_code == 200
    body = text(page)
    assert 'id="nav-keep-power"' in body
    assert f'data-period="{elsewhere.pk}"' not in body
    assert "southern lunch" not in body
    assert [s.pk for s in page.context["form"].fields["site"].queryset] == [plaza.site.pk]

    before = counts()
    assert remove(client, elsewhere).status_code == 404
    assert remove(client, elsewhere, confirm="1", reason="sneaky").status_code == 404
    refused = add(client, plaza.other_site)
    assert refused.status_code == 400
    assert "site" in refused.context["form"].errors
    assert counts() == before
    assert KeepPowerPeriod.objects.filter(pk=elsewhere.pk).exists()

    assert add(client, plaza.site).status_code == 302  # their own site: allowed
    assert KeepPowerPeriod.objects.filter(site=plaza.site).count() == 1


def test_whole_day_and_crossing_midnight_are_shown_as_such(login, plaza):
    holidays = period_at(plaza.site, "00:00", "00:00", on_workdays=False, on_weekends=False)
    every_day = period_at(plaza.site, "08:30", "08:30")
    lunch = period_at(plaza.site, "12:00", "14:00", on_holidays=False)
    nights = period_at(plaza.site, "22:00", "06:00", on_weekends=False, on_holidays=False)
    body = text(login("manager").get(reverse("console:keep-power")))

    assert "whole day" in row(body, holidays)
    assert "public holidays" in row(body, holidays)
    assert "workdays" not in row(body, holidays)
    assert "crosses midnight" not in row(body, holidays)
    assert "whole day" in row(body, every_day)
    assert "every day" in row(body, every_day)
    assert "12:00–14:00" in row(body, lunch)
    assert "crosses midnight" not in row(body, lunch)
    assert "workdays" in row(body, lunch)
    assert "weekends" in row(body, lunch)
    assert "22:00–06:00" in row(body, nights)
    assert "crosses midnight" in row(body, nights)
    # Sorted by the hour they start.
    order = [body.index(f'data-period="{p.pk}"') for p in (holidays, every_day, lunch, nights)]
    assert order == sorted(order)


def test_a_manager_of_two_sites_picks_one(login, plaza):
    north = period_at(plaza.site, "22:00", "06:00")
    south = period_at(plaza.other_site, "12:00", "14:00")
    client = login("manager", plaza.site, plaza.other_site)
    both = client.get(reverse("console:keep-power"))
    body = text(both)
    assert 'id="site-picker"' in body
    assert "North Plaza" in row(body, north)  # the site column
    assert "South Plaza" in row(body, south)

    url = f"{reverse('console:keep-power')}?site={plaza.other_site.pk}"
    picked = client.get(url)
    assert f'data-period="{south.pk}"' in text(picked)
    assert f'data-period="{north.pk}"' not in text(picked)
    assert picked.context["form"]["site"].value() == str(plaza.other_site.pk)
    # Adding from the picked site's page comes back to it.
    response = client.post(url, {"site": plaza.other_site.pk, **NIGHTS})
    assert response.status_code == 302
    assert response.url == url
    assert KeepPowerPeriod.objects.filter(site=plaza.other_site).count() == 2


def test_the_page_speaks_chinese_to_a_chinese_reader(login, plaza):
    period_at(plaza.site, "22:00", "06:00", on_weekends=False, on_holidays=False)
    client = login("manager")
    client.cookies["django_language"] = "zh-hans"
    body = text(client.get(reverse("console:keep-power")))
    assert "保电时段" in body
    assert "跨午夜" in body
    assert "工作日" in body
