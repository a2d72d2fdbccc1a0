"""`pems settle [--loop SECONDS]`: settle server-side consumption and apply the prepaid policy."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pems.billing.jobs import settle_due


class Command(BaseCommand):
    help = "Settle what the collector has read and queue trips/closes; once, or every N seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop", type=float, metavar="SECONDS", help="Repeat every SECONDS until Ctrl-C."
        )
        parser.add_argument("--limit", type=int, default=500, help="Accounts per pass.")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            started = time.monotonic()
            handled = settle_due(options["limit"])
            if options["loop"] is None:
                self.stdout.write(
                    f"settled {handled} account(s) in {time.monotonic() - started:.2f} s"
                )
                return
            time.sleep(max(0.0, options["loop"] - (time.monotonic() - started)))
