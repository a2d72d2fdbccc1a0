"""What the demo needs from the simulator: accelerated load and a field that survives restarts."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest

from pems.devices.security import MasterKey
from pems.sim.cli import SimulateOptions, run
from pems.sim.clock import ManualClock
from pems.sim.meter import RelayMode, SimMeter
from pems.sim.site import SimSite, SiteError
from pems.sim.state import load_state, save_state
from pems.siteplan import plaza
from tests.sim.conftest import MIDNIGHT_SHANGHAI, TEST_KEY
from tests.sim.test_meter import FLAT_1KW, point

HOUR = dt.timedelta(hours=1)
KEY = MasterKey.parse(TEST_KEY)


def test_load_multiplies_energy_and_spending_but_not_the_power_shown_or_the_clock():
    clock = ManualClock(MIDNIGHT_SHANGHAI)
    normal = SimMeter(point("1000.00"), clock, FLAT_1KW)
    loaded = SimMeter(point("1000.00"), clock, FLAT_1KW, load=60)

    clock.advance(HOUR)  # 00:00–01:00 valley at 0.50/kWh, 1 kW
    one, sixty = normal.snapshot(), loaded.snapshot()

    assert one.energy_total == Decimal("1.000")
    assert sixty.energy_total == Decimal("60.000")
    assert one.credit == Decimal("999.50")
    assert sixty.credit == Decimal("970.00")
    assert one.power_w == sixty.power_w == 1000
    assert one.clock_ms == sixty.clock_ms


def test_a_loaded_meter_trips_at_zero_credit_sixty_times_sooner():
    clock = ManualClock(MIDNIGHT_SHANGHAI)
    meter = SimMeter(point("1.00"), clock, FLAT_1KW, load=60)

    clock.advance(dt.timedelta(minutes=1))  # 1 kWh at 0.50
    assert meter.snapshot().relay_closed
    clock.advance(dt.timedelta(minutes=2))

    snap = meter.snapshot()
    assert not snap.relay_closed
    assert snap.credit == Decimal("0.00")
    assert snap.energy_total == Decimal("2.000")


def test_load_below_one_is_refused():
    with pytest.raises(ValueError, match="load"):
        SimMeter(point(), ManualClock(MIDNIGHT_SHANGHAI), FLAT_1KW, load=0)


def _site(clock: ManualClock) -> SimSite:
    return SimSite(plaza(), master_key=KEY, clock=clock, bus_delay=False, load=60)


def test_a_saved_field_comes_back_exactly_and_carries_on_from_there(tmp_path):
    clock = ManualClock(MIDNIGHT_SHANGHAI)
    site = _site(clock)
    meter = site.meter("GW-S2", 7)
    meter.purchase(Decimal("88.00"), 1, mac_valid=True, customer_number=5)
    site.meter("GW-G", 3).control(force=True, trip=False)  # keep-power
    clock.advance(3 * HOUR)
    before = meter.snapshot()

    assert save_state(site, tmp_path / "field.json") == 242
    restarted = _site(ManualClock(MIDNIGHT_SHANGHAI + 3 * HOUR))
    assert load_state(restarted, tmp_path / "field.json") == 242

    after = restarted.meter("GW-S2", 7).snapshot()
    for name in ("energy_total", "energy_tou", "credit", "purchase_count", "customer_number"):
        assert getattr(after, name) == getattr(before, name), name
    assert after.last_purchase == "accepted"
    assert restarted.meter("GW-G", 3).relay_mode is RelayMode.KEEP_POWER
    # A purchase continues the count the meter had before the restart.
    assert (
        restarted.meter("GW-S2", 7)
        .purchase(Decimal("1.00"), 2, mac_valid=True, customer_number=5)
        .accepted
    )


def test_no_file_means_a_fresh_field_and_a_bad_file_is_a_clear_error(tmp_path):
    site = _site(ManualClock(MIDNIGHT_SHANGHAI))
    assert load_state(site, tmp_path / "none.json") == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 99, "meters": {}}))
    with pytest.raises(SiteError, match="cannot restore the simulated field"):
        load_state(site, bad)
    bad.write_text("{not json")
    with pytest.raises(SiteError, match=r"bad\.json"):
        load_state(site, bad)


def test_simulate_refuses_a_load_below_one_and_state_with_several_processes(tmp_path):
    out = io.StringIO()
    assert run(SimulateOptions(plan="plaza", load=0, dev_key=True), out=out) == 2
    assert "--load must be ≥ 1" in out.getvalue()
    options = SimulateOptions(plan="plaza", processes=2, state=tmp_path / "f.json", dev_key=True)
    assert run(options, out=out) == 2
    assert "--state keeps one process's meters" in out.getvalue()
