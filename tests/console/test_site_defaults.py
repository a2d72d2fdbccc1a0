"""Site defaults page: managers change a site's default thresholds, audited, meters told once."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from pems.accounts import actions as ledger_actions
from pems.audit.models import AuditEvent
from pems.control.models import Command, CommandKind
from pems.inventory.models import MeteringPoint, Site
from tests import factories
from tests.console.conftest import Plaza, open_account

pytestmark = pytest.mark.django_db

D = Decimal
FORM = {
    "key": "form-1",
    "default_alarm1_threshold": "80.00",
    "default_alarm2_threshold": "30.00",
    "default_overdraft_limit": "15.00",
    "default_reconnect_minimum": "5.00",
    "reason": "tenants asked for an earlier warning",
}
FIELDS = [name for name in FORM if name.startswith("default_")]


def text(response) -> str:
    return html.unescape(response.content.decode())


def url(site: Site | None = None) -> str:
    page = reverse("console:site-defaults")
    return f"{page}?site={site.pk}" if site is not None else page


def save(client, site: Site, **fields):
    return client.post(url(site), {**FORM, **fields})


def stored(site: Site) -> tuple[Decimal, ...]:
    site = Site.objects.get(pk=site.pk)
    return tuple(getattr(site, name) for name in FIELDS)


def written() -> tuple[int, int, list]:
    """What a refusal must leave as it was: audit events, commands, every site's defaults."""
    sites = [stored(s) for s in Site.objects.order_by("pk")]
    return AuditEvent.objects.count(), Command.objects.count(), sites


def told() -> dict[int, dict]:
    """The SET_ALARMS commands queued, by metering point: their payloads."""
    alarms = Command.objects.filter(kind=CommandKind.SET_ALARMS)
    return {c.point_id: c.payload for c in alarms}


@dataclass
class MeterSide:
    """The North Plaza's meter-side points beyond the plaza's own ``meter_side`` room."""

    own_alarm1: MeteringPoint  # an own alarm 1; alarm 2 and overdraft from the site
    all_own: MeteringPoint  # alarm 1, alarm 2 and overdraft of its own
    closed: MeteringPoint  # its account is closed


@pytest.fixture
def meter_side(plaza: Plaza) -> MeterSide:
    gateway = plaza.meter_side.meter.gateway

    def point(number: str) -> MeteringPoint:
        meter = factories.MeterFactory(gateway=gateway, number=number)
        return factories.MeteringPointFactory(meter=meter, fee_control="meter-side")

    own_alarm1, all_own, closed = (
        point("240000000011"),
        point("240000000012"),
        point("240000000013"),
    )
    open_account(own_alarm1, "Own Alarm", alarm1_threshold=D("120.00"))
    open_account(
        all_own,
        "All Own",
        alarm1_threshold=D("60.00"),
        alarm2_threshold=D("10.00"),
        overdraft_limit=D("0.00"),
    )
    gone = open_account(closed, "Moved Out")
    ledger_actions.close_account(gone, "setup", "moved out")
    return MeterSide(own_alarm1, all_own, closed)


def test_a_manager_sees_the_defaults_in_force_and_how_many_accounts_use_them(
    login, plaza, meter_side
):
    client = login("manager")
    dashboard = text(client.get(reverse("console:dashboard")))
    assert 'id="nav-site-defaults"' in dashboard

    page = client.get(url())  # one site: it is the one shown
    assert page.status_code == 200
    body = text(page)
    assert re.search(r'id="nav-site-defaults"[^>]*aria-current="page"', body)
    assert 'id="site-picker"' not in body
    form = page.context["form"]
    assert form.site == plaza.site
    assert [form[name].value() for name in FIELDS] == [
        D("50.00"),
        D("20.00"),
        D("0.00"),
        D("0.00"),
    ]
    assert re.search(r'<form [^>]*id="site-defaults-form"[^>]*data-once', body)
    assert 'name="key"' in body
    # Open accounts at North: the plaza's four, "Own Alarm" and "All Own" (not "Moved Out").
    using = {row.name: row.accounts for row in page.context["in_use"]}
    assert page.context["open_accounts"] == 6
    assert using == {
        "default_alarm1_threshold": 4,
        "default_alarm2_threshold": 5,
        "default_overdraft_limit": 5,
        "default_reconnect_minimum": 6,
    }
    row = re.search(r'<tr data-default="default_alarm1_threshold">(.*?)</tr>', body, re.S)
    assert row is not None
    assert "50.00 CNY" in row.group(1)
    assert "<td data-accounts>4</td>" in row.group(1)


def test_saving_is_audited_and_tells_exactly_the_meters_relying_on_a_default(
    login, plaza, meter_side
):
    client = login("manager")
    response = save(client, plaza.site)

    assert response.status_code == 302
    assert response.url == url(plaza.site)
    assert stored(plaza.site) == (D("80.00"), D("30.00"), D("15.00"), D("5.00"))
    event = AuditEvent.objects.get(action="site.thresholds")
    assert (event.object_id, event.actor, event.reason) == (
        str(plaza.site.pk),
        client.user,
        "tenants asked for an earlier warning",
    )
    assert event.changes["default_alarm1_threshold"] == ["50.00", "80.00"]
    # Meter-side points of open accounts relying on a default: not the one with all three of
    # its own, not the closed account's, not the server-side ones, not another site's.
    assert told() == {
        plaza.meter_side.pk: {"alarm1": "80.00", "alarm2": "30.00", "overdraft": "15.00"},
        meter_side.own_alarm1.pk: {"alarm1": "120.00", "alarm2": "30.00", "overdraft": "15.00"},
    }

    page = text(client.get(response.url))
    assert (
        "Default thresholds saved at North Plaza; 2 meter-side meters were sent the new "
        "thresholds." in page
    )
    assert 'value="80.00"' in page  # the form shows the new values

    # The same page sent again (its key done already): nothing more is written or queued.
    before = written()
    again = save(client, plaza.site)
    assert again.status_code == 302
    assert again.url == url(plaza.site)
    assert written() == before


def test_the_same_form_from_a_window_that_forgot_it_queues_nothing_more(login, plaza, meter_side):
    client = login("manager")
    assert save(client, plaza.site).status_code == 302
    first = told()
    other = Client()  # another browser: its session does not know the form was sent
    other.force_login(client.user)
    before = Command.objects.count()
    response = save(other, plaza.site)
    assert response.status_code == 302  # the values are in force already: nothing to tell
    assert Command.objects.count() == before
    assert told() == first


def test_changing_only_the_reconnect_minimum_sends_no_meter_anything(login, plaza, meter_side):
    client = login("manager")
    response = save(
        client,
        plaza.site,
        default_alarm1_threshold="50.00",
        default_alarm2_threshold="20.00",
        default_overdraft_limit="0.00",
    )
    assert response.status_code == 302
    assert stored(plaza.site)[3] == D("5.00")
    assert told() == {}
    assert (
        "Default thresholds saved at North Plaza; 0 meter-side meters were sent the new "
        "thresholds." in text(client.get(response.url))
    )


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"default_alarm1_threshold": "20.00", "default_alarm2_threshold": "30.00"},
            {"default_alarm1_threshold"},
        ),
        ({"default_overdraft_limit": "-5.00"}, {"default_overdraft_limit"}),
        ({"default_alarm2_threshold": ""}, {"default_alarm2_threshold"}),
        ({"default_reconnect_minimum": "1.005"}, {"default_reconnect_minimum"}),
        ({"reason": "  "}, {"reason"}),
    ],
)
def test_refused_values_are_shown_by_field_and_write_nothing(
    login, plaza, meter_side, fields, errors
):
    client = login("manager")
    before = written()
    response = save(client, plaza.site, **fields)
    assert response.status_code == 400
    assert set(response.context["form"].errors) == errors
    assert written() == before
    body = text(response)
    for name in errors:
        assert f'id="id_{name}-errors"' in body
    # The table shows the defaults in force, not the refused values.
    assert [row.value for row in response.context["in_use"]] == [
        D("50.00"),
        D("20.00"),
        D("0.00"),
        D("0.00"),
    ]


def test_alarm_1_below_alarm_2_names_the_rule(login, plaza):
    client = login("manager")
    response = save(client, plaza.site, default_alarm1_threshold="20.00")
    assert response.context["form"].errors["default_alarm1_threshold"] == [
        "Alarm 1 must be above alarm 2: it is the first warning."
    ]


def test_a_default_crossing_an_accounts_own_alarm_is_refused_by_the_action(login, plaza):
    account = open_account(plaza.empty, "High Alarm 2", alarm2_threshold=D("40.00"))
    client = login("manager")
    before = written()
    response = save(client, plaza.site, default_alarm1_threshold="40.00")  # the form allows it
    assert response.status_code == 400
    assert written() == before
    message = response.context["form"].errors["default_alarm1_threshold"][0]
    assert f"High Alarm 2 (#{account.pk}: 40.00)" in message
    assert 'id="id_default_alarm1_threshold-errors"' in text(response)


@pytest.mark.parametrize("role", ["cashier", "operator", "readonly"])
def test_a_role_without_the_capability_neither_sees_nor_changes_the_defaults(
    login, plaza, meter_side, role
):
    client = login(role)
    assert 'id="nav-site-defaults"' not in text(client.get(reverse("console:dashboard")))
    assert client.get(url()).status_code == 403
    assert client.get(url(plaza.site)).status_code == 403
    before = written()
    assert save(client, plaza.site).status_code == 403
    assert written() == before


def test_another_sites_manager_cannot_pick_or_change_this_site(login, plaza, meter_side):
    client = login("manager", plaza.other_site)
    page = client.get(url())
    assert page.status_code == 200
    assert page.context["form"].site == plaza.other_site  # their only site
    assert "North Plaza" not in text(page)

    assert client.get(url(plaza.site)).status_code == 404
    before = written()
    assert save(client, plaza.site).status_code == 404
    assert written() == before


def test_a_manager_of_two_sites_picks_one_and_changes_only_it(login, plaza, meter_side):
    client = login("manager", plaza.site, plaza.other_site)
    page = client.get(url())
    body = text(page)
    assert page.context["form"] is None
    assert 'id="site-picker"' in body
    assert 'id="site-defaults-pick"' in body
    assert "Pick a site" in body
    assert 'id="site-defaults-form"' not in body

    south = client.get(url(plaza.other_site))
    assert south.context["form"].site == plaza.other_site
    assert south.context["open_accounts"] == 1
    response = save(client, plaza.other_site)
    assert response.status_code == 302
    assert response.url == url(plaza.other_site)
    assert stored(plaza.other_site) == (D("80.00"), D("30.00"), D("15.00"), D("5.00"))
    assert stored(plaza.site) == (D("50.00"), D("20.00"), D("0.00"), D("0.00"))
    assert told() == {}  # the South Plaza's one account is server-side
    assert save(client, Site(pk=999_999)).status_code == 404


def test_the_page_speaks_chinese_to_a_chinese_reader(login, plaza):
    client = login("manager")
    client.cookies["django_language"] = "zh-hans"
    body = text(client.get(url()))
    assert "站点默认值" in body
    assert "一级报警金额" in body
    assert "透支限额" in body
