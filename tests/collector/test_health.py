"""Freshness exported over HTTP in Prometheus text, and `pems status` from the database."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from pems import examples
from pems.billing import calendar_horizon
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.collector.config import CollectorConfig
from pems.collector.service import Collector
from pems.control import actions
from pems.control.models import CommandKind
from tests import factories
from tests.billing.scenarios import flat_tariff_document
from tests.collector.conftest import SimThread, install

pytestmark = pytest.mark.django_db(transaction=True)


async def scrape(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    body = await reader.read()
    writer.close()
    return body.decode()


def test_the_metrics_endpoint_reports_freshness_per_gateway(plaza_sim: SimThread) -> None:
    install(plaza_sim)
    plaza_sim.meter("GW-S7", 2).faults.dead = True
    collector = Collector(
        # A 1 s timeout: a busy CI box answers a 48-register read late, never a live meter
        # wrongly; and a bus a busy box made look down is retried within half a second.
        CollectorConfig(
            timeout=1.0,
            min_period=0.2,
            flush_seconds=0.05,
            backoff_base=0.01,
            gateway_backoff_base=0.05,
            gateway_backoff_max=0.5,
        )
    )

    async def run() -> str:
        stop = asyncio.Event()
        task = asyncio.create_task(collector.run(stop=stop, metrics_port=0))

        def ready() -> bool:
            s7 = [w for w in collector.workers if w.spec.name == "GW-S7"]
            swept = all(w.counters.sweeps >= 2 for w in collector.workers)
            return bool(s7) and swept and s7[0].counters.failures >= 2

        deadline = asyncio.get_running_loop().time() + 120
        while not ready():
            if asyncio.get_running_loop().time() > deadline:
                counts = {
                    w.spec.name: (w.counters.sweeps, w.counters.failures) for w in collector.workers
                }
                stop.set()  # stop the collector the way it is meant to stop, then report
                await asyncio.wait_for(task, 30)
                raise AssertionError(f"(sweeps, failures) after 120 s: {counts}")
            if task.done():
                task.result()  # the collector stopped: raise its error instead of hanging
                raise AssertionError("the collector stopped before sweeping every gateway")
            await asyncio.sleep(0.02)
        page = await scrape(collector.metrics_port or 0)
        stop.set()
        await task
        return page

    page = asyncio.run(run())

    assert page.startswith("HTTP/1.1 200 OK")
    assert "# TYPE pems_oldest_reading_age_seconds gauge" in page
    ages = re.findall(
        r'pems_oldest_reading_age_seconds\{site="Plaza",gateway="GW-[^"]+"\} (\S+)', page
    )
    assert len(ages) == 9
    assert all(0 <= float(age) < 30 for age in ages)
    online = re.search(r'pems_points_online\{site="Plaza",gateway="GW-S7"\} (\d+)', page)
    assert online is not None
    assert online[1] == "26", page
    assert re.search(r'pems_points_online\{site="Plaza",gateway="GW-S1"\} 2[67]', page)
    assert "pems_command_queue_depth 0" in page


def test_status_prints_freshness_offline_points_and_the_queue(plaza_sim: SimThread) -> None:
    points = install(plaza_sim)
    plaza_sim.meter("GW-S8", 5).faults.dead = True
    from tests.collector.conftest import collect

    collect(sweeps=2, backoff_base=0.001)
    actions.enqueue(points[("GW-S1", 1)], CommandKind.TRIP)
    out = StringIO()

    call_command("status", stdout=out)

    text = out.getvalue()
    assert "Plaza: 242 points, 241 online, 1 offline or unread" in text
    assert re.search(r"GW-S8 .* 26/27 +online +never read 1 ", text)
    assert "Commands: 1 pending, 0 sent" in text


def test_status_names_each_tariff_the_holiday_calendar_runs_out_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(calendar_horizon, "last_known_year", lambda: 2026)
    site = factories.SiteFactory(name="Plaza")
    tou = (Path(examples.__file__).parent / "tariffs" / "tou.toml").read_text("utf-8")
    since = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    fallback = tou.replace("chinese_holidays = true", "fallback_to_weekends = true")
    for name, document, accounts in (
        ("Plaza TOU", tou, 2),
        ("Flat", flat_tariff_document(), 1),
        ("Mall TOU", fallback, 1),
    ):
        tariff = create_tariff(site, name, document, actor="test")
        for _ in range(accounts):
            assign_tariff(factories.AccountFactory(tenant__site=site), tariff, since, "test")

    def status(moment: dt.datetime) -> list[str]:
        out = StringIO()
        with time_machine.travel(moment, tick=False):
            call_command("status", stdout=out)
        return [line for line in out.getvalue().splitlines() if "Holiday calendar" in line]

    assert status(dt.datetime(2026, 10, 20, tzinfo=dt.UTC)) == []
    assert status(dt.datetime(2026, 11, 25, tzinfo=dt.UTC)) == [
        'Holiday calendar: tariff "Plaza TOU" at Plaza stops settling on 2027-01-01 for 2 open '
        "accounts; chinesecalendar knows holidays up to 2026 only (revise the tariff: "
        "fallback_to_weekends = true and the year's holidays and make-up workdays, or upgrade "
        "chinesecalendar)",
        'Holiday calendar: tariff "Mall TOU" at Plaza keeps settling but prices holidays and '
        "make-up workdays as plain weekdays and weekends from 2027-01-01 for 1 open account; "
        "chinesecalendar knows holidays up to 2026 only (revise the tariff: add the year's "
        "holidays and make-up workdays as [calendar] holidays and workdays, or upgrade "
        "chinesecalendar)",
    ]
    stopped, falling_back = status(dt.datetime(2027, 1, 5, tzinfo=dt.UTC))
    assert 'tariff "Plaza TOU" at Plaza has not settled since 2027-01-01 for 2 open' in stopped
    assert 'tariff "Mall TOU" at Plaza keeps settling but' in falling_back
