"""`pems demo`: the whole simulated plaza on one laptop, in one command.

Sets up the database, writes the demo plaza's sheet, imports it (the
installer's path), seeds tenants and accounts, then runs the simulator, the
collector, the settlement/policy loop and the web console as child processes
in one process group of their own. Ctrl-C (or SIGTERM) stops every child —
web, settlement and collector first, the simulator last so it saves its
meters — and a child that dies stops the rest. On Linux the children also die
with the demo if it is killed outright. A second run resumes with the same
data: nothing is seeded twice and the simulated meters carry on where they
stopped (``--state``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from pems.core.demo import (
    demo_passwords,
    demo_plan,
    ensure_logins,
    ensure_site,
    seed_demo,
)
from pems.inventory.importer import import_sheet
from pems.inventory.models import Site
from pems.siteplan import write_sheet

DEFAULT_LOAD = 60
STOP_SECONDS = 10.0
READY_SECONDS = 30.0


class Command(BaseCommand):
    help = (
        "Run the simulated plaza end to end: simulator, collector, settlement and the console "
        "on SQLite, with demo logins for every role. Ctrl-C stops everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port of the console.")
        parser.add_argument(
            "--sim-port",
            type=int,
            default=15020,
            help="Port of the first simulated gateway; the 9 gateways take it and the next 8, "
            "the simulator's control channel the one below.",
        )
        parser.add_argument(
            "--load",
            type=int,
            default=DEFAULT_LOAD,
            help=f"Energy used × N: alarms and trips within minutes (default {DEFAULT_LOAD}).",
        )
        parser.add_argument("--workers", type=int, default=2, help="Web worker processes.")
        parser.add_argument(
            "--no-serve", action="store_true", help="Set up and seed only; start nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workdir = settings.DATA_DIR / "demo"
        workdir.mkdir(parents=True, exist_ok=True)
        sheet, state = workdir / "plaza.csv", workdir / "simulator-state.json"
        call_command("init", stdout=self.stdout)
        site = self._set_up(sheet, state, options["sim_port"])
        logins_file = settings.DATA_DIR / "demo-logins.json"
        logins = ensure_logins(site, demo_passwords(logins_file))
        self.stdout.write(self.style.SUCCESS(f"\nDemo site {site.name!r} ready."))
        self.stdout.write(f"  Console:  http://{options['bind']}/")
        self.stdout.write(f"  Logins (kept in {logins_file}):")
        for login in logins:
            self.stdout.write(f"    {login.username:<10} {login.password:<18} {login.role.label}")
        if options["no_serve"]:
            return
        env = _child_environment(self.stdout)
        children = _children(sheet, state, options)
        self.stdout.write(
            f"  Logs:     {workdir / 'logs'}/{{{','.join(name for name, _ in children)}}}.log\n"
            f"  The simulated meters use ×{options['load']} energy: alarms and trips come "
            "within minutes.\nPress Ctrl-C to stop everything."
        )
        connections.close_all()  # the children open their own
        supervisor = Supervisor(workdir / "logs", env)
        status = supervisor.run(children, ready_port=options["sim_port"], out=self.stdout)
        if status:
            raise CommandError("the demo stopped because a part of it failed", returncode=status)

    def _set_up(self, sheet: Path, state: Path, sim_port: int) -> Site:
        """Write and import the plaza's sheet, then seed it (each step idempotent)."""
        plan = demo_plan(base_port=sim_port)
        write_sheet(plan, sheet)
        site = ensure_site()
        report = import_sheet(sheet, site, "pems demo")
        if not report.ok:
            problems = "; ".join(str(issue) for issue in report.errors[:5])
            raise CommandError(f"the demo sheet did not import: {problems}")
        self.stdout.write(
            f"inventory: {'updated from' if report.changed else 'unchanged,'} {sheet.name} "
            f"({report.rows} metering points)"
        )
        seeded = seed_demo(site, plan)
        if seeded.created:
            state.unlink(missing_ok=True)  # a fresh ledger starts with fresh meters
            self.stdout.write(
                f"seeded {seeded.tenants} tenants, {seeded.accounts} accounts, "
                f"{seeded.sales} opening sales"
            )
        else:
            self.stdout.write("tenants and accounts: already seeded, resuming")
        return site


def _children(sheet: Path, state: Path, options: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The processes of the demo, simulator first (the others need its gateways listening)."""
    simulator = ["-m", "pems.sim", "--plan", str(sheet), "--state", str(state)]
    simulator += ["--base-port", str(options["sim_port"]), "--load", str(options["load"])]
    web = ["-m", "pems.cli", "serve", "--bind", options["bind"]]
    return [
        ("simulator", simulator),
        ("collector", ["-m", "pems.cli", "collect", "--min-period", "3"]),
        ("settlement", ["-m", "pems.cli", "settle", "--loop", "2"]),
        # Fewer processes than pems serve's default: the demo shares the machine with the
        # simulator, the collector and settlement.
        ("web", [*web, "--workers", str(options["workers"]), "--threads", "2"]),
    ]


def _child_environment(out: Any) -> dict[str, str]:
    env = dict(os.environ)
    env["PEMS_DATA_DIR"] = str(settings.DATA_DIR)
    env.setdefault("PEMS_DATABASE_URL", f"sqlite:///{settings.DATABASES['default']['NAME']}")
    if not (env.get("PEMS_MASTER_KEY") or env.get("PEMS_MASTER_KEY_FILE")):
        env["PEMS_MASTER_KEY"] = "dev"  # simulator and collector share the public dev key
        out.write("  Master key: the public development key (PEMS_MASTER_KEY=dev).")
    return env


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Supervisor:
    """Children in one process group of their own, stopped in order, never left behind."""

    log_dir: Path
    env: dict[str, str]
    children: list[Child] = field(default_factory=list)
    group: int | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self, commands: list[tuple[str, list[str]]], ready_port: int, out: Any) -> int:
        """Start ``commands`` (the first must be listening on ``ready_port`` before the rest)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            first, *rest = commands
            self._start(*first)
            if not self._wait_listening(ready_port):
                return self._finish(out, self._dead())
            for name, argv in rest:
                self._start(name, argv)
            while not self.stopping.wait(0.5):
                if (dead := self._dead()) is not None:
                    return self._finish(out, dead)
            return self._finish(out, None)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self.stopping.set()

    def _start(self, name: str, argv: list[str]) -> None:
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as stream:
            process = subprocess.Popen(  # noqa: S603 — our own interpreter and arguments
                [sys.executable, *argv],
                stdin=subprocess.DEVNULL,
                stdout=stream,
                stderr=subprocess.STDOUT,
                env=self.env,
                process_group=self.group or 0,
                preexec_fn=functools.partial(_die_with_parent, os.getpid()),
            )
        if self.group is None:
            self.group = process.pid
        self.children.append(Child(name, process, log))

    def _wait_listening(self, port: int) -> bool:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline and not self.stopping.is_set():
            if self._dead() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return True
            time.sleep(0.2)
        return not self.stopping.is_set() and self._dead() is None

    def _dead(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    def _finish(self, out: Any, dead: Child | None) -> int:
        if dead is not None:
            out.write(
                f"\nThe {dead.name} stopped (exit status {dead.process.returncode}); "
                f"the end of {dead.log}:\n{_tail(dead.log)}"
            )
        out.write("\nStopping the demo …")
        self.stop()
        out.write("Demo stopped.")
        return 1 if dead is not None else 0

    def stop(self) -> None:
        """Everything but the first child, then the first (the simulator saves its meters)."""
        for batch in (self.children[1:], self.children[:1]):
            for child in batch:
                if child.process.poll() is None:
                    child.process.terminate()
            for child in batch:
                try:
                    child.process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
        if self.group is not None:  # e.g. web workers whose master was killed
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.group, signal.SIGKILL)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the demo itself dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # the demo died before the request took effect
        os._exit(1)


def _tail(path: Path, lines: int = 20) -> str:
    with path.open("rb") as stream:
        stream.seek(max(0, path.stat().st_size - 8192))
        return "\n".join(stream.read().decode(errors="replace").splitlines()[-lines:])
