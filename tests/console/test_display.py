"""The one function that colours a tile, table-tested; and the facts it gets from the rows."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from pems.console.display import DisplayState, PointFacts, display_state, facts_of
from pems.console.grid import GridFilter, build_grid
from pems.domain.policy import AlarmLevel
from tests.console.conftest import read

S = DisplayState
A = AlarmLevel


def facts(
    online=True,
    relay=True,
    forced="",
    account=True,
    keep=False,
    alarm=A.NONE,
    period=False,
) -> PointFacts:
    return PointFacts(online, relay, forced, account, keep, alarm, period)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (facts(), S.OPENED),
        (facts(alarm=A.ALARM_1), S.ALARM1),
        (facts(alarm=A.ALARM_2), S.ALARM2),
        (facts(alarm=A.DEPLETED), S.ARREARS),
        (facts(account=False), S.NOT_OPENED),
        (facts(online=False), S.OFFLINE),
        (facts(online=None), S.OFFLINE),  # never polled
        (facts(relay=False), S.TRIPPED),
        (facts(forced="forced_trip"), S.TRIPPED),
        (facts(keep=True), S.KEEP_POWER),
        (facts(forced="keep_power"), S.KEEP_POWER),
        # precedence: stale data first, then the relay, then who pays, keep-power, money
        (facts(online=False, relay=False, alarm=A.DEPLETED), S.OFFLINE),
        (facts(relay=False, account=False), S.TRIPPED),
        (facts(relay=False, keep=True, alarm=A.DEPLETED), S.TRIPPED),
        (facts(keep=True, alarm=A.DEPLETED), S.KEEP_POWER),
        (facts(account=False, keep=False, alarm=A.NONE, forced="keep_power"), S.NOT_OPENED),
        (facts(relay=None, alarm=A.ALARM_2), S.ALARM2),  # relay not reported
        (facts(forced="prepaid", alarm=A.ALARM_1), S.ALARM1),
        # a site's keep-power period explains arrears with power, and hides no warning
        (facts(period=True, alarm=A.DEPLETED), S.KEEP_POWER),
        (facts(period=True, alarm=A.ALARM_2), S.ALARM2),
        (facts(period=True, relay=False, alarm=A.DEPLETED), S.TRIPPED),
    ],
)
def test_display_state(given, shown):
    assert display_state(given) is shown


def test_the_plaza_rooms_show_their_states(plaza, django_user_model):
    from tests import factories

    user = factories.staff_user("readonly", plaza.site)
    tiles = {t.point.pk: t for t in build_grid(user, GridFilter()).tiles}
    assert tiles[plaza.opened.pk].state is S.OPENED
    assert tiles[plaza.opened.pk].credit == Decimal("196.00")  # 200 less the 2 % fee
    assert tiles[plaza.arrears.pk].state is S.ARREARS
    assert tiles[plaza.empty.pk].state is S.NOT_OPENED
    assert tiles[plaza.offline.pk].state is S.OFFLINE
    assert tiles[plaza.meter_side.pk].state is S.OPENED
    assert tiles[plaza.meter_side.pk].credit == Decimal("80.00")  # the meter's own


def test_a_keep_power_period_in_force_shows_on_the_room_in_arrears_only(plaza, client):
    from django.urls import reverse

    from pems.billing.models import KeepPowerPeriod
    from tests import factories

    KeepPowerPeriod.objects.create(site=plaza.site, start=time(0, 0), end=time(0, 0))  # all day
    user = factories.staff_user("readonly", plaza.site)
    tiles = {t.point.pk: t for t in build_grid(user, GridFilter()).tiles}
    assert tiles[plaza.arrears.pk].state is S.KEEP_POWER
    assert tiles[plaza.opened.pk].state is S.OPENED
    assert tiles[plaza.meter_side.pk].state is S.OPENED  # the meter decides its own relay
    client.force_login(user)
    client.cookies["django_language"] = "en"
    room = client.get(reverse("console:point", args=[plaza.arrears.pk])).content.decode()
    assert 'data-testid="point-state">Keep-power</span>' in room


def test_meter_side_flags_and_server_side_thresholds_set_the_alarm(plaza):
    from pems.billing.relays import open_account_of

    meter_state = read(plaza.meter_side, remaining_credit=Decimal("10.00"), alarm2=True)
    account = open_account_of(plaza.meter_side)
    assert facts_of(meter_state, account, "meter-side", None).alarm is A.ALARM_2
    # Without flags the meter's credit is judged against the thresholds (50 / 20 by default).
    unflagged = read(plaza.meter_side, remaining_credit=Decimal("30.00"), alarm1=None, alarm2=None)
    assert facts_of(unflagged, account, "meter-side", None).alarm is A.ALARM_1
    state = read(plaza.opened)
    assert facts_of(state, account, "server-side", Decimal("15.00")).alarm is A.ALARM_2
    assert facts_of(state, account, "server-side", Decimal("-1.00")).alarm is A.DEPLETED
    assert facts_of(None, None, "server-side", None) == PointFacts(
        None, None, "", False, False, A.NONE
    )
