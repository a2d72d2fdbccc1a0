"""The dashboard's figures, and the room page's daily usage chart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from pems.console.chart import daily_usage, usage_chart
from pems.console.dashboard import site_today
from pems.metering.models import DailyFreeze
from tests.console.conftest import sell


def test_the_dashboard_counts_states_sales_and_energy(login, plaza):
    today = site_today(plaza.site)
    DailyFreeze.objects.create(
        point=plaza.opened, day=today, energy_total=Decimal("987.500"), read_at=timezone.now()
    )
    sell(plaza.account, "50.00", "second-sale")
    response = login("cashier").get(reverse("console:dashboard"))
    board = response.context["dashboard"]
    assert (board.points, board.online, board.offline) == (5, 4, 1)
    counts = {state.value: n for state, n in board.state_counts}
    assert counts == {
        "offline": 1,
        "tripped": 0,
        "not-opened": 1,
        "keep-power": 0,
        "arrears": 1,
        "alarm2": 0,
        "alarm1": 0,
        "opened": 2,
    }
    (north,) = board.sites
    assert (north.sales_count, north.sales_amount) == (2, Decimal("250.00"))
    assert north.energy_today == Decimal("12.500")
    assert board.newest_age is not None
    assert board.newest_age < 60


def test_energy_today_leaves_out_a_point_whose_total_fell_below_its_days_first_reading(
    login, plaza
):
    today = site_today(plaza.site)
    at = timezone.now()
    DailyFreeze.objects.create(
        point=plaza.opened, day=today, energy_total=Decimal("987.500"), read_at=at
    )
    # A102's latest total (1,000 kWh) is below its first reading today: a misread now, or a
    # new meter. Counting it would take 200 kWh off the site's day.
    DailyFreeze.objects.create(
        point=plaza.arrears, day=today, energy_total=Decimal("1200.000"), read_at=at
    )
    board = login("cashier").get(reverse("console:dashboard")).context["dashboard"]
    (north,) = board.sites
    assert north.energy_today == Decimal("12.500")


def test_the_dashboard_site_picker_narrows_to_one_site(login, plaza):
    client = login("manager", all_sites=True)
    both = client.get(reverse("console:dashboard")).context["dashboard"]
    assert both.points == 6
    one = client.get(reverse("console:dashboard"), {"site": plaza.other_site.pk})
    assert one.context["dashboard"].points == 1
    assert [f.site for f in one.context["dashboard"].sites] == [plaza.other_site]


def test_daily_usage_from_freezes():
    d = [dt.date(2026, 3, n) for n in (1, 2, 3, 4)]
    totals = {d[0]: Decimal("10.000"), d[1]: Decimal("15.500"), d[3]: Decimal("1.000")}
    usage = daily_usage(totals, d, latest=Decimal("3.250"))
    assert usage == {
        d[0]: Decimal("5.500"),
        d[1]: None,  # no freeze on the 3rd
        d[2]: None,  # no freeze on the day itself
        d[3]: Decimal("2.250"),  # today: up to the latest reading
    }
    assert daily_usage({d[0]: Decimal(9), d[1]: Decimal(2)}, d[:2], None)[d[0]] is None  # exchange


def test_a_days_first_reading_of_zeros_draws_no_bar_but_an_exchange_counts_on():
    d = [dt.date(2026, 3, n) for n in (1, 2, 3, 4)]
    misread = {d[0]: Decimal("500"), d[1]: Decimal("0"), d[2]: Decimal("510"), d[3]: Decimal(520)}
    assert daily_usage(misread, d, latest=Decimal("523")) == {
        d[0]: None,  # the 2nd's first reading was a zero: no end to measure the 1st by
        d[1]: None,  # nor a start for the 2nd (not 510 kWh in a day)
        d[2]: Decimal("10"),
        d[3]: Decimal("3"),
    }
    exchanged = {d[0]: Decimal("500"), d[1]: Decimal("1"), d[2]: Decimal("4"), d[3]: Decimal(6)}
    assert daily_usage(exchanged, d, latest=Decimal("7")) == {
        d[0]: None,  # across the exchange
        d[1]: Decimal("3"),
        d[2]: Decimal("2"),
        d[3]: Decimal("1"),
    }


def test_the_chart_scales_bars_to_a_round_peak():
    d = [dt.date(2026, 3, n) for n in range(1, 4)]
    chart = usage_chart({d[0]: Decimal("30"), d[1]: None, d[2]: Decimal("15")})
    assert chart.peak == Decimal("50")
    assert chart.total == Decimal("45")
    heights = [bar.height for bar in chart.bars]
    assert heights == [Decimal("84.0"), Decimal(0), Decimal("42.0")]  # of 140 px
    assert all(bar.y + bar.height == chart.base_y for bar in chart.bars)
    assert usage_chart({d[0]: None}).empty


def test_the_room_page_draws_the_last_30_days(login, plaza):
    today = site_today(plaza.site)
    for back, total in ((2, "970.000"), (1, "985.000"), (0, "995.000")):
        DailyFreeze.objects.create(
            point=plaza.opened,
            day=today - dt.timedelta(days=back),
            energy_total=Decimal(total),
            read_at=timezone.now(),
        )
    response = login("readonly").get(reverse("console:point", args=[plaza.opened.pk]))
    info = response.context["info"]
    assert len(info.chart.bars) == 30
    assert [b.usage for b in info.chart.bars[-3:]] == [
        Decimal("15.000"),
        Decimal("10.000"),
        Decimal("5.000"),  # today, to the latest reading (1000)
    ]
    assert info.today_energy == Decimal("5.000")
    assert 'id="usage-chart"' in response.content.decode()


def test_the_dashboard_names_stuck_server_side_points_to_those_who_can_act(login, plaza):
    from pems.billing.models import SettlementCursor
    from pems.metering.models import PointState

    read_at = PointState.objects.get(point=plaza.opened).read_at
    for point, behind in [(plaza.opened, dt.timedelta(hours=3)), (plaza.arrears, dt.timedelta())]:
        account = point.account_links.get(released_at__isnull=True).account
        SettlementCursor.objects.create(
            account=account, point=point, settled_until=read_at - behind, last_total=Decimal(1)
        )
    stopped = timezone.localtime(read_at - dt.timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
    for role in ("operator", "manager"):  # they record exchanges, revise tariffs
        page = login(role).get(reverse("console:dashboard")).content.decode()
        assert 'id="stuck-charging"' in page
        assert "1 server-side point is not being charged" in page
        assert f'<li data-point="{plaza.opened.pk}">' in page
        assert f'data-point="{plaza.arrears.pk}"' not in page  # keeping up
        assert f"charged up to {stopped}" in page
        # why, as settlement finds it: a tariff in force, no reading that fell
        assert '<span data-why="other">see the settlement log</span>' in page
    assert (
        'id="stuck-charging"'
        not in login("cashier").get(reverse("console:dashboard")).content.decode()
    )
    client = login("manager")
    client.cookies["django_language"] = "zh-hans"
    assert (
        "1 个主站费控计量点没有在计费" in client.get(reverse("console:dashboard")).content.decode()
    )
