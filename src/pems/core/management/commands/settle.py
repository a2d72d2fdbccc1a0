"""`pems settle [--loop SECONDS]`: settle server-side consumption and apply the prepaid policy,
then reconcile meter-side credit with what the meters report."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pems.billing.jobs import Blocked, settle_due
from pems.billing.mirror import reconcile_due


class Command(BaseCommand):
    help = (
        "Settle what the collector has read and queue trips/closes, and reconcile meter-side "
        "credit; once, or every N seconds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop", type=float, metavar="SECONDS", help="Repeat every SECONDS until Ctrl-C."
        )
        parser.add_argument(
            "--limit", type=int, default=500, help="Accounts (and meter-side points) per pass."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        blocked = Blocked()  # remembered from pass to pass
        while True:
            started = time.monotonic()
            settled = settle_due(options["limit"], blocked)
            reconciled = reconcile_due(options["limit"])
            if options["loop"] is None:
                self.stdout.write(
                    f"settled {settled} account(s), reconciled {reconciled} meter-side point(s)"
                    f" in {time.monotonic() - started:.2f} s"
                )
                return
            time.sleep(max(0.0, options["loop"] - (time.monotonic() - started)))
