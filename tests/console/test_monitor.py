"""The monitor grid: filters, search, live JSON, a fixed number of queries, batch actions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pems.audit.models import AuditEvent
from pems.console.grid import GridFilter, build_grid
from pems.control.models import Command, CommandKind
from pems.inventory.models import MeteringPoint
from tests import factories
from tests.console.conftest import open_account, read, sell

#: The grid's own queries (points, their open accounts, wallets) — whatever the number of points.
GRID_QUERIES = 4  # points, their open accounts, the wallets, the sites' keep-power periods


def tile_ids(client, **params) -> set[int]:
    response = client.get(reverse("console:tiles"), params)
    assert response.status_code == 200
    return {t["id"] for t in response.json()["tiles"]}


def more_points(plaza, count: int) -> None:
    gateway = plaza.opened.meter.gateway
    for n in range(count):
        point = factories.MeteringPointFactory(meter=factories.MeterFactory(gateway=gateway))
        read(point)
        if n % 2:
            account = open_account(point, f"Shop {n}", plaza.tariff)
            sell(account, "10.00", f"more-{n}")


def test_the_grid_takes_the_same_few_queries_for_any_number_of_points(plaza):
    user = factories.staff_user("manager", plaza.site)
    with CaptureQueriesContext(connection) as few:
        assert len(build_grid(user, GridFilter()).tiles) == 5
    more_points(plaza, 30)
    with CaptureQueriesContext(connection) as many:
        assert len(build_grid(user, GridFilter()).tiles) == 35
    assert len(few) == len(many) == GRID_QUERIES, [q["sql"] for q in many]


def test_the_monitor_page_and_its_json_do_not_grow_with_the_points(login, plaza):
    client = login("cashier")
    counts = []
    for extra in (0, 30):
        more_points(plaza, extra)
        for url in (reverse("console:monitor"), reverse("console:tiles")):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            counts.append(len(queries))
    assert counts[:2] == counts[2:], counts


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "A102"}, {"arrears"}),
        ({"q": "lucky"}, {"opened"}),  # tenant name, any case
        ({"q": "240000000005"}, {"meter_side"}),  # meter number
        ({"state": "not-opened"}, {"empty"}),
        ({"state": "offline"}, {"offline"}),
    ],
)
def test_search_and_state_filters(login, plaza, params, expected):
    client = login("readonly")
    assert tile_ids(client, **params) == {getattr(plaza, name).pk for name in expected}


def test_location_filters(login, plaza):
    client = login("readonly")
    everything = {plaza.opened.pk, plaza.arrears.pk, plaza.empty.pk, plaza.offline.pk}
    everything.add(plaza.meter_side.pk)
    assert tile_ids(client, building=plaza.building.pk) == everything
    assert tile_ids(client, floor=plaza.floor.pk) == everything
    assert tile_ids(client, shaft=plaza.shaft.pk) == everything  # the meters' place
    assert tile_ids(client, floor=plaza.other_site.pk + 10_000) == set()


def test_the_json_carries_decimals_as_strings(login, plaza):
    tiles = login("readonly").get(reverse("console:tiles")).json()["tiles"]
    opened = next(t for t in tiles if t["id"] == plaza.opened.pk)
    assert opened["credit"] == "196.00"
    assert opened["power"] == "1.250"
    assert opened["state"] == "opened"
    assert opened["tenant"] == "Lucky Noodles"


def batch(client, action: str, points: list[MeteringPoint], **extra):
    data = {"action": action, "points": [p.pk for p in points], **extra}
    return client.post(reverse("console:batch"), data)


def test_a_batch_trip_asks_first_then_queues_once_with_the_reason(login, plaza):
    client = login("operator")
    points = [plaza.opened, plaza.empty]
    preview = batch(client, "trip", points)
    assert preview.status_code == 200
    assert Command.objects.filter(kind=CommandKind.TRIP).count() == 0
    key = preview.context["form"]["key"].value()
    missing_reason = batch(client, "trip", points, confirm="1", key=key)
    assert missing_reason.status_code == 200
    assert Command.objects.filter(kind=CommandKind.TRIP).count() == 0
    done = batch(client, "trip", points, confirm="1", key=key, reason="riser maintenance")
    assert done.status_code == 302
    again = batch(client, "trip", points, confirm="1", key=key, reason="riser maintenance")
    assert again.status_code == 302
    trips = Command.objects.filter(kind=CommandKind.TRIP)
    assert {c.point_id for c in trips} == {p.pk for p in points}
    events = AuditEvent.objects.filter(action="control.enqueue", reason="riser maintenance")
    assert events.count() == 2
    assert {e.actor_label for e in events} == {client.user.username}


def test_a_cashier_cannot_run_a_batch_trip(login, plaza):
    client = login("cashier")
    before = AuditEvent.objects.count()
    response = batch(client, "trip", [plaza.opened], confirm="1", key="k", reason="no")
    assert response.status_code == 403
    assert not Command.objects.filter(kind=CommandKind.TRIP).exists()
    assert AuditEvent.objects.count() == before


def test_a_batch_with_another_sites_point_is_a_404_and_changes_nothing(login, plaza):
    client = login("manager")
    response = batch(
        client, "trip", [plaza.opened, plaza.elsewhere], confirm="1", key="k", reason="x"
    )
    assert response.status_code == 404
    assert not Command.objects.filter(kind=CommandKind.TRIP).exists()


def test_push_prices_skips_server_side_points_and_sends_the_tariffs_rates(login, plaza):
    client = login("manager")
    preview = batch(client, "push-prices", [plaza.opened, plaza.meter_side])
    plan = {row.point.pk: row.skipped for row in preview.context["plan"]}
    assert plan[plaza.meter_side.pk] == ""
    assert "meter-side" in plan[plaza.opened.pk]
    key = preview.context["form"]["key"].value()
    batch(client, "push-prices", [plaza.opened, plaza.meter_side], confirm="1", key=key, reason="r")
    (push,) = Command.objects.filter(kind=CommandKind.SET_PRICES)
    assert push.point_id == plaza.meter_side.pk
    assert push.payload == {"sharp": "1.00", "peak": "1.00", "flat": "1.00", "valley": "1.00"}


def test_push_thresholds_sends_the_accounts_effective_values(login, plaza):
    client = login("operator")
    preview = batch(client, "push-thresholds", [plaza.meter_side])
    key = preview.context["form"]["key"].value()
    batch(client, "push-thresholds", [plaza.meter_side], confirm="1", key=key, reason="r")
    (push,) = Command.objects.filter(kind=CommandKind.SET_ALARMS)
    assert push.payload == {"alarm1": "50.00", "alarm2": "20.00", "overdraft": "0.00"}


def test_batch_keep_power_sets_the_flag_and_commands_the_meter(login, plaza):
    client = login("operator")
    preview = batch(client, "keep-power", [plaza.arrears])
    key = preview.context["form"]["key"].value()
    batch(client, "keep-power", [plaza.arrears], confirm="1", key=key, reason="hospital")
    assert Command.objects.filter(point=plaza.arrears, kind=CommandKind.KEEP_POWER_ON).exists()
    tiles = {t["id"]: t for t in client.get(reverse("console:tiles")).json()["tiles"]}
    assert tiles[plaza.arrears.pk]["state"] == "keep-power"
