"""``pems simulate``: serve a simulated site (the work is done by :mod:`pems.sim.cli`)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pems.sim.cli import add_arguments, options_from, run


class Command(BaseCommand):
    help = (
        "Serve a simulated site: every gateway of a plan (plaza, mixed, scale:GxM or a sheet) "
        "on TCP with real RS485 timing, until Ctrl-C."
    )
    # Pure simulator: no database, so the project's system checks are not its concern.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        status = run(options_from(options), out=self.stdout)
        if status:
            raise CommandError("the simulator stopped with an error", returncode=status)
