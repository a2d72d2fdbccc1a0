"""`pems collect [--once] [--shard K/N] [--min-period S] [--metrics-port P]`: the head-end.

Reads every meter of this shard's gateways and executes queued commands.
``--shard K/N`` takes the gateways whose id % N == K - 1, so N processes with
shards 1/N … N/N together read every meter exactly once per sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from pems.collector.config import CollectorConfig
from pems.collector.plan import ShardError, parse_shard
from pems.collector.service import Collector, Summary


class Command(BaseCommand):
    help = "Read every meter on a schedule and execute commands (the head-end collector)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="One sweep of every bus, then exit."
        )
        parser.add_argument("--shard", default="1/1", help="K/N: gateways whose id %% N == K-1.")
        parser.add_argument(
            "--min-period", type=float, default=0.0, help="Minimum seconds between sweep starts."
        )
        parser.add_argument("--metrics-port", type=int, help="Serve /metrics on 127.0.0.1:PORT.")
        parser.add_argument(
            "--timeout", type=float, default=0.4, help="Seconds to wait for one reply."
        )
        parser.add_argument(
            "--interval", type=int, default=15, help="Interval reading length in minutes."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = CollectorConfig(
                min_period=options["min_period"],
                timeout=options["timeout"],
                interval=timedelta(minutes=options["interval"]),
                shard=parse_shard(options["shard"]),
            )
        except (ShardError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        collector = Collector(config)
        if options["once"]:
            summary = asyncio.run(collector.run(sweeps=1, metrics_port=options["metrics_port"]))
        else:
            summary = asyncio.run(_forever(collector, options["metrics_port"], self.stdout.write))
        self.stdout.write(f"collect: {summary}")


async def _forever(collector: Collector, metrics_port: int | None, say: Any) -> Summary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(collector.run(stop=stop, metrics_port=metrics_port))
    while not task.done() and not (
        collector.workers and (metrics_port is None or collector.metrics_port is not None)
    ):
        await asyncio.sleep(0.05)
    if not task.done():
        say(
            f"collect: reading {len(collector.workers)} buses; "
            f"metrics on port {collector.metrics_port or '-'}; stop with Ctrl-C"
        )
    return await task
