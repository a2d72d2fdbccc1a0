"""A collector killed (SIGKILL) mid-command: the restarted one reconciles, never double-credits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from pems.control import actions
from pems.control.models import Command, CommandKind, CommandStatus
from tests.collector.conftest import KEY_HEX, SimThread, install

pytestmark = pytest.mark.django_db(transaction=True)
SLOW_MS = 1500


def database_url() -> str:
    """The test database as a PEMS_DATABASE_URL, for a child process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_collector(log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = os.environ | {"PEMS_DATABASE_URL": database_url(), "PEMS_MASTER_KEY": KEY_HEX}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pems.cli", "collect", "--timeout", "0.4", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_sigkill_mid_push_then_restart_credits_exactly_once(
    plaza_sim: SimThread, tmp_path: Path
) -> None:
    points = install(plaza_sim)
    meter = plaza_sim.meter("GW-S6", 4)
    before = plaza_sim.run(meter.snapshot)
    # The meter applies the purchase at once but answers 1.5 s later: the collector
    # is left with a command marked sent and no reply when it is killed.
    plaza_sim.run(lambda: setattr(meter.faults, "slow_ms", SLOW_MS))
    command = actions.enqueue(points[("GW-S6", 4)], CommandKind.PUSH_CREDIT, {"amount": "80.00"})

    log = tmp_path / "collect.log"
    first = start_collector(log)
    try:
        wait_for(
            lambda: plaza_sim.run(lambda: meter.snapshot().purchase_count) > before.purchase_count
        )
        command.refresh_from_db()
        assert command.status == CommandStatus.SENT
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()

    plaza_sim.run(lambda: setattr(meter.faults, "slow_ms", 0))
    time.sleep(SLOW_MS / 1000)  # the simulated bus finishes the slow transaction
    second = start_collector(log, "--once")
    assert second.wait(timeout=60) == 0, log.read_text()[-2000:]

    command.refresh_from_db()
    after = plaza_sim.run(meter.snapshot)
    assert after.purchase_count == before.purchase_count + 1
    assert after.credit == before.credit + Decimal("80.00")
    assert command.status == CommandStatus.CONFIRMED
    assert command.attempts == 1
    assert command.answer["note"] == "reconciled by read-back"
    assert Command.objects.count() == 1
