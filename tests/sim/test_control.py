"""The JSON-lines control channel drives faults and inspects meters over TCP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pems.devices.security import MasterKey
from pems.sim.cli import apply_fault_file
from pems.sim.clock import ManualClock
from pems.sim.control import ControlServer
from pems.sim.site import SimSite, SiteError, run_site
from pems.siteplan import mixed


@pytest.fixture
async def controlled(
    master_key: MasterKey, clock: ManualClock
) -> AsyncIterator[tuple[SimSite, int]]:
    async with run_site(mixed(), master_key=master_key, clock=clock, bus_delay=False) as site:
        server = ControlServer(site)
        await server.start("127.0.0.1", 0)
        yield site, server.port
        await server.stop()


async def ask(port: int, *commands: dict[str, Any] | str) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = []
    for command in commands:
        line = command if isinstance(command, str) else json.dumps(command)
        writer.write(line.encode() + b"\n")
        replies.append(json.loads(await asyncio.wait_for(reader.readline(), 2)))
    writer.close()
    return replies


async def test_faults_state_and_gateway_commands(controlled: tuple[SimSite, int]) -> None:
    site, port = controlled
    replies = await ask(
        port,
        {"op": "fault", "gateway": "GW-A", "address": 2, "dead": True, "slow_ms": 150},
        {"op": "credit", "gateway": "GW-A", "address": 3, "credit": "-2.50"},
        {"op": "state", "gateway": "GW-A", "address": 3},
        {"op": "replace", "gateway": "GW-B", "address": 1, "meter_number": "999900000001"},
        {"op": "down", "gateway": "GW-D", "down": True},
        {"op": "endpoints"},
    )
    assert all(reply["ok"] for reply in replies), replies
    assert site.meter("GW-A", 2).faults.dead
    assert site.meter("GW-A", 2).faults.slow_ms == 150
    state = replies[2]["state"]
    assert (state["credit"], state["relay_closed"], state["arrears"]) == ("-2.50", False, True)
    assert site.meter("GW-B", 1).meter_number == "999900000001"
    assert site.gateway("GW-D").down
    assert [e["gateway"] for e in replies[5]["endpoints"]] == ["GW-A", "GW-B", "GW-D"]
    (cleared,) = await ask(port, {"op": "clear", "gateway": "GW-A", "address": 2})
    assert cleared["faults"]["dead"] is False


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("not json", "Expecting value"),
        ("[1]", "a command is a JSON object"),
        ({"op": "explode"}, "'op' must be one of"),
        ({"op": "fault", "gateway": "GW-A", "address": 99, "dead": True}, "no meter at address 99"),
        ({"op": "fault", "gateway": "GW-Z", "address": 1}, "no simulated gateway 'GW-Z'"),
        ({"op": "fault", "gateway": "GW-A", "address": "1"}, "'address' must be a whole number"),
        (
            {"op": "credit", "gateway": "GW-A", "address": 1, "credit": "lots"},
            "'credit' must be a decimal",
        ),
        (
            {"op": "replace", "gateway": "GW-A", "address": 1, "meter_number": "12"},
            "must be 12 digits",
        ),
    ],
)
async def test_bad_commands_get_specific_errors(
    controlled: tuple[SimSite, int], command: dict[str, Any] | str, error: str
) -> None:
    _, port = controlled
    (reply,) = await ask(port, command)
    assert reply["ok"] is False
    assert error in reply["error"]


async def test_fault_file_applies_commands_at_start(
    master_key: MasterKey, clock: ManualClock, tmp_path: Path
) -> None:
    good = tmp_path / "faults.jsonl"
    good.write_text(
        "# faults for the demo\n"
        '{"op": "fault", "gateway": "GW-A", "address": 4, "dead": true}\n'
        "\n"
        '{"op": "fault", "gateway": "GW-D", "address": 123456781012, "garbled": true}\n'
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"op": "clear", "gateway": "GW-A", "address": 4}\n'
        '{"op": "fault", "gateway": "GW-Q", "address": 1}\n'
    )
    async with run_site(mixed(), master_key=master_key, clock=clock, bus_delay=False) as site:
        apply_fault_file(site, good)
        assert site.meter("GW-A", 4).faults.dead
        assert site.meter("GW-D", 123456781012).faults.garbled
        with pytest.raises(SiteError, match=r"bad\.jsonl:2: no simulated gateway 'GW-Q'"):
            apply_fault_file(site, bad)
    subset = SimSite(mixed(), master_key=master_key, clock=clock, gateways=["GW-A"])
    apply_fault_file(subset, good)  # GW-D belongs to another worker: skipped
    assert subset.meter("GW-A", 4).faults.dead
