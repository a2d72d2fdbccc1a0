"""A site's keep-power periods (保电时段): no trip for lack of credit while one is in force,
the trip once it ends; judged by the site's wall clock and its kinds of day.

The tenant bought 10.00 and used 20 kWh at 1.00: the balance is -10.00, so
outside a period the policy trips the meter, inside one it keeps it on.
2026-10-01 is National Day (a statutory holiday); 2026-10-12 is a Monday.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pems.access.models import ApiToken
from pems.accounts.actions import balance
from pems.audit.models import AuditEvent
from pems.billing import actions
from pems.billing.models import KeepPowerPeriod
from pems.billing.policy import apply_policy, sites_keeping_power
from pems.billing.settlement import settle_account
from pems.control.models import Command
from tests.api.conftest import TokenClient
from tests.billing.scenarios import reading, server_side_tenant
from tests.factories import SiteFactory, staff_user
from tests.ledger.scenarios import cny

pytestmark = pytest.mark.django_db

NIGHT, MORNING = dt.time(22, 0), dt.time(8, 0)


def in_arrears():
    account, point = server_side_tenant("1.00")
    actions.sell(account, cny("10.00"), "cash", "cashier", "s1")
    reading(point, 0, "0.000")
    settle_account(account)  # the baseline
    reading(point, 15, "20.000")
    settle_account(account)
    assert balance(account) == cny("-10.00")
    return account, point


def local(account, *parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=ZoneInfo(account.tenant.site.time_zone))


def trips(point) -> list[str]:
    return list(Command.objects.filter(point=point).order_by("pk").values_list("kind", flat=True))


def test_no_trip_at_night_and_the_trip_once_the_period_ends():
    account, point = in_arrears()
    KeepPowerPeriod.objects.create(site=account.tenant.site, start=NIGHT, end=MORNING)

    apply_policy(account, now=local(account, 2026, 3, 2, 23, 0))
    apply_policy(account, now=local(account, 2026, 3, 3, 7, 59))
    assert trips(point) == []
    apply_policy(account, now=local(account, 2026, 3, 3, 8, 0))
    apply_policy(account, now=local(account, 2026, 3, 3, 9, 0))
    assert trips(point) == ["trip"]


def test_a_holiday_period_keeps_power_on_holidays_only():
    account, point = in_arrears()
    KeepPowerPeriod.objects.create(
        site=account.tenant.site,
        start=dt.time(0, 0),
        end=dt.time(0, 0),  # the whole day
        on_workdays=False,
        on_weekends=False,
    )
    apply_policy(account, now=local(account, 2026, 10, 1, 12, 0))
    assert trips(point) == []
    apply_policy(account, now=local(account, 2026, 10, 12, 12, 0))
    assert trips(point) == ["trip"]


def test_a_workday_night_does_not_cover_saturday_small_hours():
    """22:00-08:00 on workdays: 01:00 on Saturday 2026-03-07 is a weekend instant."""
    account, point = in_arrears()
    KeepPowerPeriod.objects.create(
        site=account.tenant.site, start=NIGHT, end=MORNING, on_weekends=False, on_holidays=False
    )
    apply_policy(account, now=local(account, 2026, 3, 6, 23, 0))  # Friday night
    assert trips(point) == []
    apply_policy(account, now=local(account, 2026, 3, 7, 1, 0))
    assert trips(point) == ["trip"]


def test_a_meter_tripped_before_the_period_is_closed_during_it_and_tripped_after():
    account, point = in_arrears()
    KeepPowerPeriod.objects.create(site=account.tenant.site, start=NIGHT, end=MORNING)
    for hour, day in [(21, 2), (23, 2), (9, 3)]:
        apply_policy(account, now=local(account, 2026, 3, day, hour, 0))
        Command.objects.filter(point=point).update(status="confirmed", completed_at=timezone.now())
    assert trips(point) == ["trip", "close", "trip"]


def test_another_sites_period_keeps_nothing_on():
    account, point = in_arrears()
    elsewhere, _ = server_side_tenant("1.00")
    KeepPowerPeriod.objects.create(site=elsewhere.tenant.site, start=NIGHT, end=MORNING)
    apply_policy(account, now=local(account, 2026, 3, 2, 23, 0))
    assert trips(point) == ["trip"]


def test_a_sale_that_leaves_credit_reads_no_schedule():
    account, _point = server_side_tenant("1.00")
    KeepPowerPeriod.objects.create(site=account.tenant.site, start=NIGHT, end=MORNING)
    with CaptureQueriesContext(connection) as queries:
        actions.sell(account, cny("100.00"), "cash", "cashier", "s1")
    assert not [q for q in queries.captured_queries if "keeppowerperiod" in q["sql"]]


def test_an_admin_adds_a_period_audited_and_a_period_without_days_is_refused(client):
    account, _point = server_side_tenant("1.00")
    site = account.tenant.site
    boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "x-Secret-42")
    client.force_login(boss)
    client.cookies["django_language"] = "en"
    url = "/admin/billing/keeppowerperiod/add/"
    form = {"site": site.pk, "start": "22:00", "end": "08:00", "reason": "no cut-offs at night"}

    refused = client.post(url, form)  # no kind of day ticked
    assert refused.status_code == 200
    assert "Tick at least one kind of day." in refused.content.decode()
    assert not KeepPowerPeriod.objects.exists()

    added = client.post(url, {**form, "on_workdays": "on", "on_holidays": "on"})
    assert added.status_code == 302
    period = KeepPowerPeriod.objects.get()
    assert (period.on_workdays, period.on_weekends, period.on_holidays) == (True, False, True)
    assert AuditEvent.objects.filter(action="create", actor_label="boss").exists()


def test_a_year_the_holiday_library_does_not_know_counts_plain_weekends():
    """chinesecalendar 1.11.0 stops at 2026 (the system check warns): no decision stops."""
    account, point = in_arrears()
    KeepPowerPeriod.objects.create(
        site=account.tenant.site,
        start=dt.time(0, 0),
        end=dt.time(0, 0),
        on_workdays=False,
        on_holidays=False,
    )
    apply_policy(account, now=local(account, 2027, 1, 2, 12, 0))  # a Saturday
    assert trips(point) == []
    apply_policy(account, now=local(account, 2027, 1, 4, 12, 0))  # a Monday
    assert trips(point) == ["trip"]


def test_the_sites_keeping_power_now():
    account, _point = server_side_tenant("1.00")
    other, _ = server_side_tenant("1.00")
    site = account.tenant.site
    KeepPowerPeriod.objects.create(site=site, start=NIGHT, end=MORNING)
    sites = [site.pk, other.tenant.site.pk]
    assert sites_keeping_power(sites, local(account, 2026, 3, 2, 23, 0)) == {site.pk}
    assert sites_keeping_power(sites, local(account, 2026, 3, 2, 12, 0)) == set()


def test_the_api_lists_a_sites_keep_power_periods_in_one_statement_for_all_sites():
    sites = [SiteFactory(), SiteFactory()]
    night = KeepPowerPeriod.objects.create(
        site=sites[0], start=NIGHT, end=MORNING, on_weekends=False
    )
    _token, secret = ApiToken.issue(staff_user("readonly", *sites), "tests")
    client = TokenClient(secret)

    one = client.get(f"/api/sites/{sites[0].pk}").json()
    assert one["keep_power_periods"] == [
        {
            "id": night.pk,
            "start": "22:00:00",
            "end": "08:00:00",
            "on_workdays": True,
            "on_weekends": False,
            "on_holidays": True,
            "reason": "",
        }
    ]
    with CaptureQueriesContext(connection) as listed:
        items = client.get("/api/sites").json()["items"]
    assert {s["id"]: len(s["keep_power_periods"]) for s in items} == {
        sites[0].pk: 1,
        sites[1].pk: 0,
    }
    periods = [q for q in listed.captured_queries if "keeppowerperiod" in q["sql"]]
    assert len(periods) == 1
