"""`pems serve`: the web console and API under gunicorn, static files by WhiteNoise."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from gunicorn.app.base import BaseApplication


def default_shape() -> tuple[int, int]:
    """Worker processes and threads per worker unless told: PEMS_WORKERS, PEMS_THREADS.

    Processes rather than threads: threads of one worker take turns on the GIL, and
    each holds a database connection of its own; one thread a worker spends less CPU
    a request (docs/benchmarks.md, "The recharge API over HTTP").
    """
    workers = int(os.environ.get("PEMS_WORKERS", str(2 * (os.cpu_count() or 1))))
    return workers, int(os.environ.get("PEMS_THREADS", "1"))


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """Runs the PEMS WSGI application with options from the command line."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from pems.wsgi import application

        return application


class Command(BaseCommand):
    help = "Serve the web console and API with gunicorn (not runserver)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind",
            default=os.environ.get("PEMS_BIND", "127.0.0.1:8000"),
            help="host:port to listen on (env PEMS_BIND).",
        )
        workers, threads = default_shape()
        parser.add_argument(
            "--workers",
            type=int,
            default=workers,
            help="Worker processes (env PEMS_WORKERS; default twice the CPUs).",
        )
        parser.add_argument(
            "--threads", type=int, default=threads, help="Threads per worker (env PEMS_THREADS)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (settings.STATIC_ROOT / "staticfiles.json").exists():
            call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(f"PEMS console on http://{options['bind']}/")
        _Gunicorn(
            {
                "bind": options["bind"],
                "workers": options["workers"],
                "threads": options["threads"],
                "worker_class": "gthread",
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": settings.LOG_LEVEL.lower(),
                "graceful_timeout": 5,
                # One control socket per PEMS instance (gunicornc -s PATH), not the
                # per-user default two instances on one machine would fight over.
                "control_socket": str(settings.DATA_DIR / "gunicorn.ctl"),
            }
        ).run()
