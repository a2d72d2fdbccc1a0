"""Browser tests: Debian's Chromium, driven by Playwright, against the live server.

The console runs in pytest-django's ``live_server`` (a real HTTP server on the
transactional test database). The flows where meters must answer also get a
small live field (:func:`live_field`): simulated meters on real sockets, the
collector on its own event loop and the settlement/policy loop, each in a
background thread, as ``pems demo`` runs them; all three stop at teardown.

Chromium is Debian's (``make test`` installs it; ``PEMS_CHROMIUM`` points
elsewhere); Playwright never downloads a browser. Every page's JavaScript
errors and failed requests fail the test. Screenshots are written only when
``PEMS_SCREENSHOT_DIR`` is set (``make screenshots`` sets docs/operator-guide).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import close_old_connections, connections
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from pems.accounts import actions as ledger_actions
from pems.accounts.models import Account
from pems.billing.jobs import settle_due
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.collector.config import CollectorConfig
from pems.collector.service import Collector
from pems.inventory.choices import LocationKind
from pems.inventory.models import Location, MeteringPoint, Site
from pems.metering.models import PointState
from pems.sim.clock import ManualClock
from pems.siteplan import (
    AreaKind,
    FeeControl,
    Gateway,
    MeterPoint,
    ModelCode,
    Protocol,
    SerialSettings,
    SitePlan,
)
from pems.siteplan import Location as PlanLocation
from pems.siteplan.builtin import PLAZA_PRICES
from tests import factories
from tests.collector.conftest import KEY_HEX, SimThread, install
from tests.console.conftest import FLAT_WITH_FEE, sell
from tests.console.conftest import plaza as plaza  # the fixture: two sites, rooms in every state

CHROMIUM = os.environ.get("PEMS_CHROMIUM", "/usr/bin/chromium")
#: Headless, and nothing that phones home: this network refuses Chromium's own connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "x-Secret-42"  # tests.factories.staff_user's
#: How long a person would wait for a page or a live refresh (the grid polls every 5 s).
WAIT_MS = 10_000
#: A command goes out, the meter answers, the next sweep reads it back, the page refreshes.
LIVE_WAIT_MS = 25_000
SCREENSHOT_DIR = os.environ.get("PEMS_SCREENSHOT_DIR", "")


@pytest.fixture(scope="package", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop in the test thread; the ORM must still work.

    Set for this package only (and restored after it), not for the whole suite.
    """
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if before is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the package; stopped before the rest of the suite runs."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `make test` (it installs Debian's chromium) "
            "or set PEMS_CHROMIUM to a Chromium binary"
        )
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# -- pages ---------------------------------------------------------------------------------


@dataclass
class Problems:
    """What went wrong in the pages of one test, as a person's browser would show it."""

    errors: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: uncaught {exc}"))
        page.on("console", lambda msg: self._console(page, msg))
        page.on("requestfailed", lambda req: self._failed(req.url, req.failure or "failed"))
        page.on("response", lambda res: self._response(res.url, res.status))

    def expect_refusal(self, path: str) -> None:
        """A refused request (403/404) the test makes on purpose, by its path, is no problem."""
        self.expected.append(path)

    def _allowed(self, url: str) -> bool:
        return urlsplit(url).path in self.expected

    def _console(self, page: Page, msg: Any) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "") or page.url
        # Chromium logs every HTTP error status as a console error too: judged in _response.
        if msg.text.startswith("Failed to load resource: the server responded"):
            return
        self.errors.append(f"{where}: console error: {msg.text}")

    def _failed(self, url: str, why: str) -> None:
        if "net::ERR_ABORTED" in why:  # a navigation replaced the page mid-request
            return
        self.errors.append(f"{url}: request failed: {why}")

    def _response(self, url: str, status: int) -> None:
        if status >= 400 and not self._allowed(url):
            self.errors.append(f"{url}: HTTP {status}")


class Pages:
    """New browser windows (contexts) on the live server; checks each for problems."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.problems = Problems()
        self.contexts: list[BrowserContext] = []

    def new(self, locale: str = "en-US") -> Page:
        context = self.browser.new_context(
            base_url=self.base_url,
            locale=locale,
            timezone_id="Asia/Shanghai",
            viewport={"width": 1280, "height": 860},
        )
        context.set_default_timeout(WAIT_MS)
        # A test cannot answer a print dialog: count the calls instead.
        context.add_init_script(
            "window.print = () => { window.__printed = (window.__printed || 0) + 1; };"
        )
        self.contexts.append(context)
        page = context.new_page()
        self.problems.watch(page)
        return page

    def another_tab(self, page: Page) -> Page:
        """A second tab of the same window: same login, watched the same way."""
        tab = page.context.new_page()
        self.problems.watch(tab)
        return tab

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser: Browser, live_server: Any) -> Iterator[Pages]:
    opened = Pages(browser, live_server.url)
    yield opened
    opened.close()
    assert not opened.problems.errors, "the browser saw problems:\n" + "\n".join(
        opened.problems.errors
    )


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a person does; lands on the dashboard."""
    page.goto("/console/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    expect(page.get_by_test_id("who")).to_contain_text(username)


def command_row(page: Page, kind: str) -> Locator:
    """The newest row of the room page's commands table for a kind ("Trip", "Close" …)."""
    kind_cell = page.locator("td:nth-child(2)").get_by_text(kind, exact=True)
    return page.locator("#commands-table tbody tr").filter(has=kind_cell).first


def shoot(page: Page, name: str, *, full_page: bool = False, element: str | None = None) -> None:
    """Save a screenshot for the operator guide when PEMS_SCREENSHOT_DIR is set."""
    if not SCREENSHOT_DIR:
        return
    path = Path(SCREENSHOT_DIR) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    if element is not None:
        page.locator(element).screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full_page)


def wait_until(check: Callable[[], Any], what: str, timeout: float = LIVE_WAIT_MS / 1000) -> Any:
    """Poll the database until ``check`` answers something true; fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        close_old_connections()
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


# -- the live field ------------------------------------------------------------------------

#: The simulated rooms: (room, fee control, credit on a meter-side meter).
ROOMS = [
    ("A101", FeeControl.SERVER_SIDE, "0.00"),
    ("A102", FeeControl.SERVER_SIDE, "0.00"),
    ("A103", FeeControl.METER_SIDE, "80.00"),
    ("A104", FeeControl.METER_SIDE, "35.00"),
    ("A105", FeeControl.METER_SIDE, "12.00"),
    ("A106", FeeControl.SERVER_SIDE, "0.00"),
    ("A107", FeeControl.SERVER_SIDE, "0.00"),
    ("A108", FeeControl.SERVER_SIDE, "0.00"),
    ("A109", FeeControl.METER_SIDE, "60.00"),
]
DEAD_ROOM = "A109"


def address_of(room: str) -> int:
    """The bus address of a room's meter (rooms are wired in order)."""
    return [name for name, _, _ in ROOMS].index(room) + 1


def field_plan() -> SitePlan:
    """One RS485 bus of nine three-phase meters on the first floor of building A."""
    meters = tuple(
        MeterPoint(
            address,
            f"2411000001{address:02d}",
            ModelCode.DTSY1352_NK,
            PlanLocation(AreaKind.BUILDING, "A", "1F", room),
            fee,
            PLAZA_PRICES,
            initial_credit=Decimal(credit),
        )
        for address, (room, fee, credit) in enumerate(ROOMS, start=1)
    )
    serial = SerialSettings(9600)
    return SitePlan(
        "North Plaza",
        (Gateway("GW-1", "127.0.0.1", 0, Protocol.MODBUS_RTU_OVER_TCP, serial, meters),),
    )


class CollectorThread:
    """``pems collect`` on its own event loop in a background thread."""

    def __init__(self, config: CollectorConfig) -> None:
        self.collector = Collector(config)
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="collector", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def run() -> None:
            self._stop = asyncio.Event()
            self._ready.set()
            await self.collector.run(stop=self._stop)

        try:
            self.loop.run_until_complete(run())
        except BaseException as exc:  # reported by stop(), in the test thread
            self.error = exc
        finally:
            self._ready.set()
            connections.close_all()
            self.loop.close()

    def stop(self) -> None:
        if self._stop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=20)
        assert not self._thread.is_alive(), "the collector did not stop"
        if self.error is not None:
            raise self.error


class SettleThread:
    """``pems settle --loop`` in a background thread: settlement, then the prepaid policy."""

    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="settle", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            while not self._stop.wait(self.every):
                close_old_connections()
                settle_due()
        except BaseException as exc:  # reported by stop(), in the test thread
            self.error = exc
        finally:
            connections.close_all()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=20)
        assert not self._thread.is_alive(), "the settlement loop did not stop"
        if self.error is not None:
            raise self.error


@dataclass
class Field:
    """The live North Plaza: rooms by name, their accounts, and the simulator behind them."""

    site: Site
    sim: SimThread
    points: dict[str, MeteringPoint]
    accounts: dict[str, Account]

    def state(self, room: str) -> PointState:
        close_old_connections()
        state: PointState = PointState.objects.get(point=self.points[room])
        return state


#: Quick sweeps of a small bus, quick command pick-up; a dead meter is offline within a second.
COLLECTOR = CollectorConfig(
    min_period=0.5,
    timeout=0.3,
    backoff_base=0.2,
    backoff_max=1.0,
    flush_seconds=0.05,
    command_poll_seconds=0.1,
    command_retry_seconds=0.2,
)


def _rooms(
    site: Site, sim: SimThread, installed: dict[tuple[str, int], MeteringPoint]
) -> dict[str, MeteringPoint]:
    """Put each installed point in its room (building A, 1F) as the plan says."""
    building = Location.objects.create(site=site, kind=LocationKind.BUILDING, name="A")
    floor = Location.objects.create(site=site, kind=LocationKind.FLOOR, name="1F", parent=building)
    by_room = {}
    for (code, address), point in installed.items():
        name = sim.meter(code, address).point.location.room
        point.room = Location.objects.create(
            site=site, kind=LocationKind.ROOM, name=name, parent=floor
        )
        point.save(update_fields=["room"])
        by_room[name] = point
    return by_room


#: Tenants by room (A106 is empty) and their account settings.
TENANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "A101": ("Lucky Noodles", {}),
    "A102": ("Empty Pockets", {}),
    "A103": ("Tea House", {}),
    "A104": ("Book Corner", {}),
    "A105": ("Flower Stall", {}),
    "A107": ("Night Market", {"keep_power": True}),
    "A108": ("Late Payer", {"overdraft_limit": Decimal("100.00")}),
    "A109": ("Quiet Shop", {}),
}


def _accounts(site: Site, points: dict[str, MeteringPoint]) -> dict[str, Account]:
    """Open the tenants' accounts; server-side ones are priced; A101 has bought 200 CNY."""
    tariff = create_tariff(site, "Flat 1.00", FLAT_WITH_FEE, actor="setup")
    accounts = {}
    for room, (name, settings) in TENANTS.items():
        point = points[room]
        tenant = factories.TenantFactory(site=site, name=name, room=point.room)  # type: ignore[no-untyped-call]
        account = ledger_actions.open_account(tenant, [point], actor="setup", **settings)
        if point.fee_control == FeeControl.SERVER_SIDE:
            assign_tariff(account, tariff, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="setup")
        accounts[room] = account
    sell(accounts["A101"], "200.00", "setup-a101")
    return accounts


def _settled(found: Field) -> bool:
    states = {s.point_id: s for s in PointState.objects.filter(point__in=found.points.values())}
    for room, point in found.points.items():
        state = states.get(point.pk)
        if state is None or state.online != (room != DEAD_ROOM):
            return False
    return states[found.points["A102"].pk].relay_closed is False


@pytest.fixture
def live_field(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Field]:
    """The live North Plaza: nine meters answering on a socket, read and policed.

    Starts once the collector has read every meter (A109's is dead: offline) and
    the policy has tripped the room with nothing paid (A102), so each test
    starts from what a person would find there.
    """
    monkeypatch.setenv("PEMS_MASTER_KEY", KEY_HEX)
    pymodbus = logging.getLogger("pymodbus")
    level = pymodbus.level
    pymodbus.setLevel(logging.CRITICAL)  # A109's timeouts, every sweep, with frame dumps
    sim = SimThread(field_plan(), clock=ManualClock(dt.datetime.now(dt.UTC)))
    workers: list[CollectorThread | SettleThread] = []
    try:
        dead = sim.meter("GW-1", address_of(DEAD_ROOM))
        sim.run(lambda: setattr(dead.faults, "dead", True))
        installed = install(sim, "North Plaza")
        site = next(iter(installed.values())).meter.gateway.site
        points = _rooms(site, sim, installed)
        found = Field(site, sim, points, _accounts(site, points))
        workers.append(CollectorThread(COLLECTOR))
        workers.append(SettleThread())
        wait_until(lambda: _settled(found), "every meter read and A102 tripped by the policy")
        yield found
    finally:
        with contextlib.ExitStack() as stopping:  # every one stops, even if one fails to
            stopping.callback(pymodbus.setLevel, level)
            stopping.callback(sim.stop)
            for worker in workers:
                stopping.callback(worker.stop)
