"""`pems demo` as a newcomer runs it: a real process tree on a scratch SQLite database.

It must show live readings of the simulated plaza within a minute of starting
its processes, stop every one of them on Ctrl-C, and resume on a second run.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.core.test_cli import free_port
from tests.sim.test_cli import free_base_port

PEMS = [sys.executable, "-m", "pems.cli"]
SETUP_SECONDS = 180  # migrations, the import and seeding on a busy 2-core machine
READINGS_SECONDS = 60


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEMS_")}
    env.update(
        PEMS_DATA_DIR=str(tmp_path / "var"),
        PEMS_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'pems.sqlite3'}",
        PEMS_LANGUAGE="en",
    )
    return env


def descendants(root: int) -> dict[int, int]:
    """Every live process under ``root`` (pid → process group), read from /proc."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = (int(fields[1]), int(fields[2]))  # ppid, pgrp
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, group) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = group
                frontier.append(pid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def read_points(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
        try:
            (count,) = db.execute(
                "SELECT count(*) FROM metering_pointstate WHERE read_at IS NOT NULL"
            ).fetchone()
        except sqlite3.OperationalError:  # tables not migrated yet, or busy
            return 0
    return int(count)


def wait_for_line(process: subprocess.Popen[str], text: str, seconds: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never came; output so far:\n" + "\n".join(lines))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_demo_shows_live_plaza_readings_and_ctrl_c_stops_every_child(demo_env, tmp_path):
    web, sim = free_port(), free_base_port(9)
    database = tmp_path / "var" / "pems.sqlite3"
    command = [*PEMS, "demo", "--bind", f"127.0.0.1:{web}", "--sim-port", str(sim)]
    demo = subprocess.Popen(
        [*command, "--workers", "1"],
        env=demo_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen: dict[int, int] = {}
    try:
        banner = wait_for_line(demo, "Press Ctrl-C to stop everything.", SETUP_SECONDS)
        for role in ("admin", "manager", "cashier", "operator", "readonly"):
            assert any(line.strip().startswith(role) for line in banner), role
        assert any(f"http://127.0.0.1:{web}/" in line for line in banner)
        deadline = time.monotonic() + READINGS_SECONDS
        while read_points(database) < 242:
            assert demo.poll() is None, "the demo stopped by itself"
            assert time.monotonic() < deadline, f"{read_points(database)} of 242 points read"
            seen |= descendants(demo.pid)
            time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/admin/login/", timeout=10) as page:
            assert page.status == 200
        seen |= descendants(demo.pid)
        assert len(seen) >= 4  # simulator, collector, settlement, web (and its worker)
        groups = set(seen.values())
        assert len(groups) == 1  # one process group of their own …
        assert groups != {os.getpgid(demo.pid)}  # … apart from the terminal's

        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert demo.returncode == 0, output
    assert "Demo stopped." in output
    assert not [pid for pid in seen if alive(pid)]
    with pytest.raises(ProcessLookupError):
        os.killpg(next(iter(groups)), 0)
    assert "Saved 242 meters" in (tmp_path / "var/demo/logs/simulator.log").read_text()

    again = subprocess.run(
        [*command, "--no-serve"],
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=SETUP_SECONDS,
        check=True,
    )
    assert "tenants and accounts: already seeded, resuming" in again.stdout
    assert "inventory: unchanged, plaza.csv (242 metering points)" in again.stdout
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM accounts_tenant").fetchone() == (222,)
