"""``python -m pems.sim.bench G M [BASE_PORT]``: the simulator's cost per read at scale.

Starts ``python -m pems.sim --plan scale:GxM --no-bus-delay`` as its own
process (the development key; ports from BASE_PORT, default 20000 — below
Linux's ephemeral range), reads the 48-register live block of every meter
once (one connection per gateway, sequential per bus, as a collector does),
and reports the sweep's wall time and the simulator process's CPU time
(Linux ``/proc``). The client runs in this process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from pems.sim.wire import rtu_frame

LIVE_READ = bytes((0x03,)) + (0x0200).to_bytes(2, "big") + (48).to_bytes(2, "big")
LIVE_REPLY = 5 + 2 * 48


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _sweep(port: int, meters: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for unit in range(1, meters + 1):
        writer.write(rtu_frame(unit, LIVE_READ))
        await reader.readexactly(LIVE_REPLY)
    writer.close()


def bench(gateways: int, meters: int, base_port: int) -> str:
    """Run one sweep against a simulator subprocess; returns the report line."""
    command = [sys.executable, "-m", "pems.sim", "--plan", f"scale:{gateways}x{meters}"]
    command += ["--no-bus-delay", "--dev-key", "--base-port", str(base_port)]
    # Our own interpreter and module with integer arguments: no untrusted input.
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as simulator:  # noqa: S603
        try:
            for line in simulator.stdout or ():
                if line.startswith("pems simulate:"):
                    raise RuntimeError(line.strip())
                if line.startswith("Serving"):
                    break
            cpu_before, started = _cpu_seconds(simulator.pid), time.perf_counter()

            async def sweep_all() -> None:
                await asyncio.gather(*(_sweep(base_port + g, meters) for g in range(gateways)))

            asyncio.run(sweep_all())
            wall = time.perf_counter() - started
            cpu = _cpu_seconds(simulator.pid) - cpu_before
        finally:
            simulator.terminate()
    reads = gateways * meters
    return (
        f"{reads} reads on {gateways} gateways in {wall:.1f} s wall; simulator CPU {cpu:.1f} s "
        f"= {cpu / reads * 1e6:.0f} µs per read"
    )


def main(argv: list[str]) -> int:
    """Entry point: G M [BASE_PORT]."""
    if len(argv) not in (2, 3) or not all(a.isdigit() for a in argv):
        sys.stderr.write("usage: python -m pems.sim.bench GATEWAYS METERS [BASE_PORT=20000]\n")
        return 2
    base = int(argv[2]) if len(argv) == 3 else 20000
    sys.stdout.write(bench(int(argv[0]), int(argv[1]), base) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
