"""Every console page renders for every role within its scope, and only there."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from pems.accounts.models import Account
from pems.billing import mirror
from pems.control.models import Command
from tests.console.conftest import ROLES, read, sell

PASSWORD = "x-Secret-42"


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.content[:500]
    return response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_every_role(login, plaza, role):
    client = login(role)
    dashboard = page(client, reverse("console:dashboard"))
    assert "North Plaza" in dashboard
    monitor = page(client, reverse("console:monitor"))
    for room in ("A101", "A102", "A103", "A104", "A105"):
        assert room in monitor
    assert "B201" not in monitor  # another site's room
    room = page(client, reverse("console:point", args=[plaza.opened.pk]))
    assert "Lucky Noodles" in room
    assert 'id="usage' in room


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        ("cashier", ["action-sell"], ["action-trip", "action-refund", "action-thresholds"]),
        ("operator", ["action-trip", "action-thresholds", "action-replace"], ["action-sell"]),
        ("readonly", [], ["action-sell", "action-trip", "action-refund", "action-close-account"]),
        ("manager", ["action-sell", "action-refund", "action-trip", "action-tariff"], []),
    ],
)
def test_a_role_sees_only_the_buttons_it_can_use(login, plaza, role, visible, hidden):
    room = page(login(role), reverse("console:point", args=[plaza.opened.pk]))
    for button in visible:
        assert f'id="{button}"' in room
    for button in hidden:
        assert f'id="{button}"' not in room


def test_the_audit_page_is_for_managers_and_admins(login, plaza):
    assert page(login("manager"), reverse("console:audit"))
    assert "nav-audit" not in page(login("cashier"), reverse("console:dashboard"))
    page(login("cashier"), reverse("console:audit"), status=403)


def test_a_scoped_operator_gets_404_for_another_sites_room(login, plaza):
    client = login("operator")
    other = plaza.elsewhere.pk
    page(client, reverse("console:point", args=[other]), status=404)
    page(client, reverse("console:point-live", args=[other]), status=404)
    page(client, reverse("console:relay", args=[other, "trip"]), status=404)
    tiles = client.get(reverse("console:tiles")).json()["tiles"]
    assert other not in {t["id"] for t in tiles}
    assert plaza.opened.pk in {t["id"] for t in tiles}


def test_an_all_sites_manager_sees_both_sites(login, plaza):
    client = login("manager", all_sites=True)
    monitor = page(client, reverse("console:monitor"))
    assert "B201" in monitor
    assert 'id="filter-site"' in monitor  # a site picker once there are several


def test_a_login_without_a_role_is_refused(client, plaza):
    nobody = get_user_model().objects.create_user("nobody", password=PASSWORD)
    client.force_login(nobody)
    page(client, reverse("console:dashboard"), status=403)
    page(client, reverse("console:tiles"), status=403)


def test_signed_out_people_are_sent_to_the_console_login(client, plaza):
    response = client.get(reverse("console:monitor"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))
    assert client.get("/")["Location"] == reverse("console:dashboard")


@pytest.mark.parametrize(("language", "title"), [("zh-hans", "登录"), ("en", "Log in")])
def test_the_login_page_speaks_both_languages(client, plaza, language, title):
    client.cookies["django_language"] = language
    assert title in page(client, reverse("console:login"))


def test_signing_in_and_out(client, plaza):
    from tests import factories

    factories.staff_user("cashier", plaza.site, username="mei")
    response = client.post(reverse("console:login"), {"username": "mei", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("console:dashboard")
    assert "mei" in page(client, reverse("console:dashboard"))
    client.post(reverse("console:logout"))
    assert client.get(reverse("console:dashboard")).status_code == 302


def test_every_room_page_renders_whatever_its_state(login, plaza):
    client = login("admin")
    for point in (plaza.opened, plaza.arrears, plaza.empty, plaza.offline, plaza.meter_side):
        room = page(client, reverse("console:point", args=[point.pk]))
        assert point.meter_number in room
    assert 'id="action-open"' in page(client, reverse("console:point", args=[plaza.empty.pk]))


def test_the_room_page_shows_its_relay_buttons_with_titles(login, plaza):
    room = page(login("operator"), reverse("console:point", args=[plaza.opened.pk]))
    assert ">Trip (switch off)</a>" in room
    assert ">Keep power on (保电)</a>" in room


def test_pages_render_in_chinese(login, plaza):
    client = login("cashier")
    client.cookies["django_language"] = "zh-hans"
    for url in (
        reverse("console:dashboard"),
        reverse("console:monitor"),
        reverse("console:point", args=[plaza.opened.pk]),
        reverse("console:sell", args=[plaza.opened.pk]),
    ):
        assert '<html lang="zh-hans">' in page(client, url)


def test_pages_load_nothing_from_another_host(login, plaza):
    import re

    from django.contrib.staticfiles import finders

    client = login("manager")
    for url in (
        reverse("console:dashboard"),
        reverse("console:monitor"),
        reverse("console:point", args=[plaza.opened.pk]),
    ):
        for link in re.findall(r'(?:src|href|action)="([^"]*)"', page(client, url)):
            assert not link.startswith(("http:", "https:", "//")), link
    assert finders.find("console/console.css")
    assert finders.find("console/console.js")


def test_the_console_login_is_rate_limited(client, plaza, settings):
    from tests import factories

    factories.staff_user("cashier", plaza.site, username="mei")
    url = reverse("console:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "mei", "password": "wrong"})
    locked = client.post(url, {"username": "mei", "password": PASSWORD})
    assert locked.status_code in (403, 429)
    assert client.get(reverse("console:dashboard")).status_code == 302  # still signed out


def test_the_ledger_shows_payments_unless_asked_for_everything(login, plaza):
    from pems.domain.money import Money
    from pems.ledger import chart
    from pems.ledger.models import JournalEntry
    from pems.ledger.posting import post

    post(
        site_id=plaza.site.pk,
        kind=JournalEntry.Kind.SETTLEMENT,
        lines=[
            (chart.wallet(plaza.account), Money.of("-1.00", "CNY")),
            (chart.revenue(plaza.site, "electricity"), Money.of("1.00", "CNY")),
        ],
        actor="settle",
        account_id=plaza.account.pk,
    )
    client = login("cashier")
    url = reverse("console:point", args=[plaza.opened.pk])
    payments = client.get(url).context["entries"]
    assert [e.kind for e in payments] == ["recharge"]
    everything = client.get(url, {"ledger": "all"}).context["entries"]
    assert [e.kind for e in everything] == ["settlement", "recharge"]


def test_the_room_page_shows_the_meter_credit_check_and_its_drift(login, plaza):
    """A sale of 100.00 (2 % fee: 98.00 to the meter); the meter then reports 103.00."""
    account = Account.objects.get(links__metering_point=plaza.meter_side)
    sell(account, "100.00", "meter-side-sale")
    Command.objects.filter(point=plaza.meter_side).update(
        status="confirmed", completed_at=timezone.now() - dt.timedelta(minutes=1)
    )
    read(plaza.meter_side, remaining_credit=Decimal("103.00"))
    assert mirror.reconcile_due() == 1
    url = reverse("console:point", args=[plaza.meter_side.pk])

    room = page(login("operator"), url)
    assert "103.00 CNY read at" in room
    assert "the meter holds 5.00 CNY more than PEMS sent (not booked)" in room
    assert "Meter holds credit PEMS did not send" in room  # the events table
    client = login("operator")
    client.cookies["django_language"] = "zh-hans"
    assert "电表内比系统下发多 5.00 CNY（未入账）" in page(client, url)


def test_the_room_page_says_up_to_when_a_server_side_point_was_charged(login, plaza):
    from pems.billing.models import SettlementCursor

    state = read(plaza.opened)
    cursor = SettlementCursor.objects.create(
        account=plaza.account,
        point=plaza.opened,
        settled_until=state.read_at - dt.timedelta(minutes=5),
        last_total=Decimal("1000.000"),
    )
    url = reverse("console:point", args=[plaza.opened.pk])
    local = timezone.localtime(cursor.settled_until).strftime("%Y-%m-%d %H:%M")
    room = page(login("operator"), url)
    assert f'data-testid="charged-until">{local}</dd>' in room

    cursor.settled_until = state.read_at - dt.timedelta(hours=2)  # stuck at a fallen total
    cursor.save()
    room = page(login("operator"), url)
    assert 'data-testid="charging-stuck"' in room
    assert "use since then is not charged: the meter's total fell" in room
    client = login("operator")
    client.cookies["django_language"] = "zh-hans"
    assert "此后的用量尚未计费：电表总电量回落" in page(client, url)
    assert 'data-testid="charged-until"' not in page(
        login("operator"), reverse("console:point", args=[plaza.meter_side.pk])
    )


def test_a_stuck_room_says_why_its_use_is_not_charged(login, plaza):
    from pems.billing.models import SettlementCursor
    from pems.metering.models import IntervalReading

    state = read(plaza.opened, energy_total=Decimal("6.000"))  # a new meter, not recorded
    stopped = state.read_at - dt.timedelta(hours=8)
    SettlementCursor.objects.create(
        account=plaza.account, point=plaza.opened, settled_until=stopped, last_total=Decimal(1000)
    )
    fell_at = stopped + dt.timedelta(minutes=15)
    IntervalReading.objects.create(
        point=plaza.opened, interval_start=fell_at, read_at=fell_at, energy_total=Decimal(5)
    )
    url = reverse("console:point", args=[plaza.opened.pk])
    room = page(login("operator"), url)
    at = timezone.localtime(fell_at).strftime("%Y-%m-%d %H:%M")
    assert 'data-why="fall"' in room
    assert (
        f"the meter's total fell from 1000.000 kWh to 5.000 kWh at {at} and stayed down. "
        "If the meter was exchanged, record it with Replace the meter."
    ) in room
    client = login("operator")
    client.cookies["django_language"] = "zh-hans"
    assert "从 1000.000 kWh 回落到 5.000 kWh，之后没有恢复" in page(client, url)

    # The same stop with no fall (a meter read on): for want of a tariff in force then.
    IntervalReading.objects.filter(point=plaza.opened).delete()
    read(plaza.opened, energy_total=Decimal("1200.000"), read_at=state.read_at)
    plaza.account.tariffs.all().delete()
    room = page(login("operator"), url)
    assert 'data-why="no-tariff"' in room
    assert "the account has no tariff in force then. Give it one with Tariff." in room
