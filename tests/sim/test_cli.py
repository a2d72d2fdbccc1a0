"""`pems simulate` as a real process: prints endpoints, serves, exports the sheet, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pems.sim.cli import split_gateways
from pems.siteplan import plaza, read_sheet
from tests.sim.conftest import TEST_KEY
from tests.sim.rtu import read_request

PLAZA_GATEWAYS = 9


def free_base_port(count: int) -> int:
    """A base port with ``count`` free ports from it (and two below, for control)."""
    for base in range(21000 + os.getpid() % 1000 * 20, 60000, 37):
        sockets = []
        try:
            for port in range(base - 2, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


def simulate(tmp_path: Path, *args: str, key: str | None = TEST_KEY) -> subprocess.Popen[str]:
    env = {**os.environ, "PEMS_DATA_DIR": str(tmp_path / "data")}
    env.pop("PEMS_MASTER_KEY", None)
    env.pop("PEMS_MASTER_KEY_FILE", None)
    if key is not None:
        env["PEMS_MASTER_KEY"] = key
    return subprocess.Popen(
        [sys.executable, "-m", "pems.cli", "simulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def lines_until_serving(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Serving"):
            return lines
    raise AssertionError(f"simulator never said it was serving: {lines}")


def read_type_code(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(read_request(1, 0x0200, 1))
        reply = b""
        while len(reply) < 7:
            reply += sock.recv(64)
    return int.from_bytes(reply[3:5], "big")


def test_simulate_plaza_prints_endpoints_exports_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    base = free_base_port(PLAZA_GATEWAYS)
    sheet = tmp_path / "x.csv"
    process = simulate(
        tmp_path, "--plan", "plaza", "--base-port", str(base), "--export-sheet", str(sheet)
    )
    try:
        lines = lines_until_serving(process)
        assert f"  GW-S1 → 127.0.0.1:{base} modbus-rtu-over-tcp, 27 meters (9600 8N1)" in lines
        assert f"  GW-G → 127.0.0.1:{base + 8} modbus-rtu-over-tcp, 26 meters (9600 8N1)" in lines
        assert not any("WARNING" in line for line in lines)
        assert read_type_code(base + 8) == 5
        exported = read_sheet(sheet)
        assert exported == plaza(base_port=base)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_simulate_in_two_processes(tmp_path: Path) -> None:
    base = free_base_port(PLAZA_GATEWAYS)
    process = simulate(
        tmp_path,
        "--plan",
        "plaza",
        "--base-port",
        str(base),
        "--processes",
        "2",
        "--no-bus-delay",
        key="dev",
    )
    try:
        lines = lines_until_serving(process)
        assert lines[0].startswith("WARNING: using the public development master key")
        assert f"Control (JSON lines): 127.0.0.1:{base - 2}, {base - 1}" in lines
        # "Serving" is printed only once every worker listens.
        assert [read_type_code(base + i) for i in (0, 4, 5, 8)] == [5, 5, 5, 5]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (("--plan", "plaza"), None, "no master key: set PEMS_MASTER_KEY"),
        (("--plan", "nowhere.csv"), TEST_KEY, "nowhere.csv: no such file"),
        (("--plan", "plaza", "--speed", "0"), TEST_KEY, "--speed and --processes must be ≥ 1"),
    ],
)
def test_simulate_refuses_bad_setup(
    tmp_path: Path, args: tuple[str, ...], key: str | None, message: str
) -> None:
    process = simulate(tmp_path, *args, key=key)
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert message in output


@pytest.mark.parametrize(
    ("count", "processes", "sizes"),
    [(9, 1, [9]), (9, 2, [5, 4]), (9, 4, [3, 2, 2, 2]), (3125, 2, [1563, 1562]), (3, 3, [1, 1, 1])],
)
def test_gateways_are_split_evenly_and_in_order(
    count: int, processes: int, sizes: list[int]
) -> None:
    codes = [f"G{i}" for i in range(count)]
    groups = split_gateways(codes, processes)
    assert [len(g) for g in groups] == sizes
    assert [code for group in groups for code in group] == codes
