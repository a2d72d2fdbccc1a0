"""Shared set-up for benchmark scripts: a scratch database, migrated, and Django ready.

Benchmarks never touch the working database: they use PEMS_BENCH_DATABASE_URL
(default: a SQLite file under var/bench/), creating a PostgreSQL database of
that name when it does not exist yet.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


def setup_django(default_sqlite: str) -> str:
    """Point PEMS at the bench database, migrate it quietly; returns its URL."""
    url = os.environ.get("PEMS_BENCH_DATABASE_URL")
    if not url:
        (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)  # a fresh clone has none
        url = f"sqlite:///{ROOT / 'var' / 'bench' / default_sqlite}"
    os.environ["PEMS_DATABASE_URL"] = url
    os.environ.setdefault("PEMS_DATA_DIR", str(ROOT / "var" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pems.settings")
    os.environ.setdefault("PEMS_LOG_LEVEL", "WARNING")
    if url.startswith("postgres"):
        _create_postgres_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return url


def _create_postgres_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')  # name comes from the operator's URL


class Progress:
    """A one-line progress indicator on stderr for long set-up steps."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.started = label, total, time.monotonic()
        self.last = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= 0.5 or done == self.total:
            self.last = now
            rate = done / max(now - self.started, 1e-9)
            print(
                f"\r{self.label}: {done:,}/{self.total:,} ({rate:,.0f}/s)", end="", file=sys.stderr
            )
            if done == self.total:
                print(file=sys.stderr)
