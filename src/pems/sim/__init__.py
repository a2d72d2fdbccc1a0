"""The simulated field: meters with their own prepaid logic, RS485 buses with real timing,
gateways on TCP, and faults — so PEMS runs and is tested without hardware.

Public API::

    from pems.sim import run_site, SimSite, Endpoint, ManualClock, ScaledClock
    async with run_site(plan, master_key=key, bus_delay=False) as site:
        site.endpoints                      # [Endpoint(gateway, host, port, protocol, meters)]
        meter = site.meter("GW-S1", 5)      # SimMeter: .snapshot(), .faults, .replace(), ...
        meter.faults.dead = True            # dead / slow_ms / garbled / clock_drift_s
        site.gateway("GW-S1").drop_connections()
        site.served_plan                    # the plan with the endpoints actually served

``pems simulate`` (see :mod:`pems.sim.cli`) serves a plan until Ctrl-C;
docs/simulator.md describes the timing model and the control protocol.
"""

from pems.sim.clock import Clock, ManualClock, ScaledClock
from pems.sim.control import ControlServer, apply_command
from pems.sim.gateway import SimGateway
from pems.sim.meter import Faults, MeterSnapshot, PurchaseResult, RelayMode, SimMeter
from pems.sim.site import Endpoint, SimSite, SiteError, run_site
from pems.sim.timing import BusTiming

__all__ = [
    "BusTiming",
    "Clock",
    "ControlServer",
    "Endpoint",
    "Faults",
    "ManualClock",
    "MeterSnapshot",
    "PurchaseResult",
    "RelayMode",
    "ScaledClock",
    "SimGateway",
    "SimMeter",
    "SimSite",
    "SiteError",
    "apply_command",
    "run_site",
]
