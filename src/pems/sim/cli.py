"""``pems simulate``: serve a plan's gateways until Ctrl-C (pure code; the Django command wraps it).

The arguments are defined here (:func:`add_arguments`) so the management
command and ``python -m pems.sim`` accept exactly the same options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import TextIO

from pems.devices.security import DEV_MASTER_KEY_HEX, KeyConfigError, MasterKey
from pems.sim.control import ControlServer, apply_command
from pems.sim.site import Endpoint, SimSite, SiteError
from pems.sim.state import load_state, save_state
from pems.siteplan import SheetError, SitePlan, load_plan, write_sheet

DEV_KEY_WARNING = "WARNING: using the public development master key; never use it with real meters."
STATE_SAVE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    """Everything ``pems simulate`` takes from its command line."""

    plan: str
    host: str = "127.0.0.1"
    base_port: int = 15020
    control_port: int | None = None
    speed: int = 1
    load: int = 1
    bus_delay: bool = True
    turnaround_ms: int = 20
    processes: int = 1
    export_sheet: Path | None = None
    dev_key: bool = False
    duration: float | None = None
    faults: Path | None = None
    state: Path | None = None

    @property
    def control(self) -> int:
        """First control port; process i listens on control + i (default: just below base-port)."""
        if self.control_port is not None:
            return self.control_port
        return self.base_port - self.processes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the simulate options on ``parser``."""
    add = parser.add_argument
    add("--plan", required=True, help="plaza, mixed, scale:GxM, or a .csv/.xlsx site plan sheet")
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--base-port", type=int, default=15020, help="port of the first gateway; others follow")
    add(
        "--control-port",
        type=int,
        default=None,
        help="JSON control port (default base-port − processes); process i uses it + i",
    )
    add("--speed", type=int, default=1, help="simulated seconds per real second (default 1)")
    add(
        "--load",
        type=int,
        default=1,
        help="energy (and credit) used × N, clocks and shown power unchanged (default 1)",
    )
    add("--no-bus-delay", action="store_true", help="answer at once instead of RS485 line time")
    add("--turnaround-ms", type=int, default=20, help="meter turnaround per request (default 20)")
    add("--processes", type=int, default=1, help="split the gateways over N processes")
    add("--export-sheet", type=Path, default=None, help="write the served plan as .csv or .xlsx")
    add("--dev-key", action="store_true", help="use the public development master key")
    add("--duration", type=float, default=None, help="stop after this many seconds")
    add(
        "--faults",
        type=Path,
        default=None,
        help="JSON-lines file of control commands to apply at start",
    )
    add(
        "--state",
        type=Path,
        default=None,
        help="keep the meters' registers, credit and relays in this JSON file across restarts",
    )


def options_from(namespace: argparse.Namespace | Mapping[str, object]) -> SimulateOptions:
    """Options from parsed arguments (argparse namespace or Django's options dict)."""
    values = vars(namespace) if isinstance(namespace, argparse.Namespace) else dict(namespace)
    return SimulateOptions(
        plan=str(values["plan"]),
        host=str(values["host"]),
        base_port=int(str(values["base_port"])),
        control_port=None
        if values.get("control_port") is None
        else int(str(values["control_port"])),
        speed=int(str(values["speed"])),
        load=int(str(values.get("load") or 1)),
        bus_delay=not values["no_bus_delay"],
        turnaround_ms=int(str(values["turnaround_ms"])),
        processes=int(str(values["processes"])),
        export_sheet=None
        if values.get("export_sheet") is None
        else Path(str(values["export_sheet"])),
        dev_key=bool(values["dev_key"]),
        duration=None if values.get("duration") is None else float(str(values["duration"])),
        faults=None if values.get("faults") is None else Path(str(values["faults"])),
        state=None if values.get("state") is None else Path(str(values["state"])),
    )


def master_key(dev_key: bool, environ: Mapping[str, str], out: TextIO) -> MasterKey:
    """The master key from the environment, or the development key when asked for explicitly."""
    if dev_key:
        _say(out, DEV_KEY_WARNING)
        return MasterKey.parse(DEV_MASTER_KEY_HEX)
    if environ.get("PEMS_MASTER_KEY", "").strip() == "dev":
        _say(out, DEV_KEY_WARNING)
    return MasterKey.from_env(environ)


def run(
    options: SimulateOptions, out: TextIO = sys.stdout, environ: Mapping[str, str] | None = None
) -> int:
    """Serve until Ctrl-C / SIGTERM (or ``duration``); returns the exit status."""
    env = os.environ if environ is None else environ
    try:
        _check(options)
        key = master_key(options.dev_key, env, out)
        plan = load_plan(options.plan, options.host, options.base_port)
    except (SheetError, KeyConfigError, ValueError) as exc:
        _say(out, f"pems simulate: {exc}")
        return 2
    options = replace(options, processes=min(options.processes, len(plan.gateways)))
    served = _with_ports(plan, options)
    _announce(served, options, out)

    def ready() -> None:
        """Every port is listening: only now export the sheet and say so."""
        if options.export_sheet is not None:
            write_sheet(served, options.export_sheet)
            _say(out, f"Sheet written: {options.export_sheet}")
        _say(out, "Serving; press Ctrl-C to stop.")

    try:
        if options.processes > 1:
            return _run_processes(plan, key, options, out, ready)
        asyncio.run(
            _serve(plan, key, options, None, options.control, ready, lambda m: _say(out, m))
        )
    except (SiteError, OSError) as exc:
        _say(out, f"pems simulate: {exc}")
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the servers were up
        return 130
    return 0


def _say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def _check(options: SimulateOptions) -> None:
    if options.speed < 1 or options.processes < 1 or options.turnaround_ms < 0:
        raise ValueError("--speed and --processes must be ≥ 1 and --turnaround-ms ≥ 0")
    if options.load < 1:
        raise ValueError("--load must be ≥ 1 (the energy each meter uses × N)")
    if options.state is not None and options.processes > 1:
        raise ValueError("--state keeps one process's meters: use it with --processes 1")
    if not 1 <= options.base_port <= 65535 or not 1 <= options.control <= 65535:
        raise ValueError("--base-port and --control-port must be ports 1–65535")


def _with_ports(plan: SitePlan, options: SimulateOptions) -> SitePlan:
    """The plan with the endpoints the simulator serves: host, base-port + index."""
    return replace(
        plan,
        gateways=tuple(
            g.with_endpoint(options.host, options.base_port + i)
            for i, g in enumerate(plan.gateways)
        ),
    )


def _announce(plan: SitePlan, options: SimulateOptions, out: TextIO) -> None:
    timing = "bus delay off"
    if options.bus_delay:
        timing = f"RS485 timing on, turnaround {options.turnaround_ms} ms"
    _say(
        out,
        f"Simulating {plan.site}: {len(plan.gateways)} gateways, {plan.meter_count} meters "
        f"(speed ×{options.speed}, load ×{options.load}, {timing}, "
        f"{options.processes} process(es))",
    )
    for gateway in plan.gateways:
        meters = len(gateway.meters)
        endpoint = Endpoint(gateway.code, gateway.host, gateway.port, gateway.protocol, meters)
        _say(out, f"  {endpoint} ({gateway.serial})")
    controls = ", ".join(str(options.control + i) for i in range(options.processes))
    _say(out, f"Control (JSON lines): {options.host}:{controls}")


async def _serve(
    plan: SitePlan,
    key: MasterKey,
    options: SimulateOptions,
    codes: Sequence[str] | None,
    control: int,
    ready: Callable[[], None],
    say: Callable[[str], None] = lambda _: None,
) -> None:
    """Serve (a subset of) the plan until a stop signal or the duration ends."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    site = SimSite(
        plan,
        master_key=key,
        speed=options.speed,
        load=options.load,
        bus_delay=options.bus_delay,
        turnaround=options.turnaround_ms / 1000,
        gateways=codes,
    )
    if options.state is not None:
        restored = load_state(site, options.state)
        say(
            f"Restored {restored} meters from {options.state}"
            if restored
            else f"No saved field in {options.state}: meters start fresh"
        )
    first = 0 if codes is None else [g.code for g in plan.gateways].index(codes[0])
    controller = ControlServer(site)
    saver = None
    try:
        await site.start(options.host, options.base_port + first)
        await controller.start(options.host, control)
        if options.faults is not None:
            apply_fault_file(site, options.faults)
        if options.state is not None:
            saver = asyncio.create_task(_keep_saving(site, options.state, stop))
        ready()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(options.duration):
                await stop.wait()
    finally:
        stop.set()
        if saver is not None:
            await saver
        await controller.stop()
        await site.stop()
        if options.state is not None:
            say(f"Saved {save_state(site, options.state)} meters to {options.state}")


async def _keep_saving(site: SimSite, path: Path, stop: asyncio.Event) -> None:
    """Save the field every few seconds, so even a killed simulator loses little."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STATE_SAVE_SECONDS):
                await stop.wait()
        if not stop.is_set():
            save_state(site, path)


def apply_fault_file(site: SimSite, path: Path) -> None:
    """Apply a JSON-lines file of control commands (faults set up front).

    Commands naming a gateway this process does not serve are skipped (with
    ``--processes`` each worker applies its own share); any refused command
    stops the start-up with its line number.
    """
    served = {g.code for g in site.gateways}
    planned = {g.code for g in site.plan.gateways}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SiteError(f"cannot read --faults file: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        gateway = _gateway_named(line)
        if gateway in planned and gateway not in served:
            continue
        reply = apply_command(site, line)
        if not reply["ok"]:
            raise SiteError(f"{path}:{number}: {reply['error']}")


def _gateway_named(line: str) -> str | None:
    try:
        command = json.loads(line)
    except ValueError:
        return None
    gateway = command.get("gateway") if isinstance(command, dict) else None
    return gateway if isinstance(gateway, str) else None


def _child(
    plan: SitePlan,
    key: MasterKey,
    options: SimulateOptions,
    codes: list[str],
    control: int,
    started: EventType,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops children with SIGTERM
    asyncio.run(_serve(plan, key, options, codes, control, started.set))


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def split_gateways(codes: Sequence[str], processes: int) -> list[list[str]]:
    """``processes`` contiguous, non-empty groups whose sizes differ by at most one."""
    size, extra = divmod(len(codes), processes)
    groups, start = [], 0
    for index in range(processes):
        end = start + size + (1 if index < extra else 0)
        groups.append(list(codes[start:end]))
        start = end
    return groups


def _all_started(children: Sequence[BaseProcess], events: Sequence[EventType]) -> bool:
    """Wait until every worker listens; False as soon as one has died instead."""
    while not all(event.is_set() for event in events):
        if any(not child.is_alive() for child in children):
            return False
        events[0].wait(0.05)
    return True


def _run_processes(
    plan: SitePlan,
    key: MasterKey,
    options: SimulateOptions,
    out: TextIO,
    ready: Callable[[], None],
) -> int:
    """Split the gateways into contiguous groups, one process each."""
    groups = split_gateways([g.code for g in plan.gateways], options.processes)
    # fork: children inherit the plan and key in memory (the key is never pickled or logged).
    context = multiprocessing.get_context("fork")
    signal.signal(signal.SIGTERM, _interrupt)
    events = [context.Event() for _ in groups]
    children = [
        context.Process(
            target=_child, args=(plan, key, options, group, options.control + i, events[i])
        )
        for i, group in enumerate(groups)
    ]
    for child in children:
        child.start()
    try:
        if _all_started(children, events):
            ready()
            for child in children:
                child.join()
    except KeyboardInterrupt:
        pass
    finally:  # never leave a worker behind, whatever stopped the parent
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join()
    failed = [c for c in children if c.exitcode]
    if failed:
        _say(out, f"pems simulate: {len(failed)} worker process(es) failed")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pems.sim``: the same options as ``pems simulate``."""
    parser = argparse.ArgumentParser(prog="pems simulate", description=__doc__)
    add_arguments(parser)
    return run(options_from(parser.parse_args(argv)))
