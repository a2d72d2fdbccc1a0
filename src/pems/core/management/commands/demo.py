"""`pems demo`: initialise the embedded database, seed a sample site and serve it."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from pems.core.demo import seed_demo_site

DEMO_ADMIN = "admin"


class Command(BaseCommand):
    help = "Set up the embedded demo (database, sample site, admin) and serve the console."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000", help="host:port to listen on.")
        parser.add_argument(
            "--no-serve", action="store_true", help="Set up only; do not start the server."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = demo_password()
        call_command("init", admin_username=DEMO_ADMIN, admin_password=password, stdout=self.stdout)
        site = seed_demo_site()
        host = options["bind"]
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo site {site.name!r} ready.\n"
                f"  Console:  http://{host}/\n"
                f"  Log in:   {DEMO_ADMIN} / {password}\n"
                f"  (password kept in {settings.DATA_DIR / 'demo-password'}; "
                "language: the switcher on the page, or your browser's setting)\n"
            )
        )
        if not options["no_serve"]:
            call_command("serve", bind=host)


def demo_password() -> str:
    """PEMS_DEMO_PASSWORD, else a random one made on the first run and kept."""
    if password := os.environ.get("PEMS_DEMO_PASSWORD"):
        return password
    path = settings.DATA_DIR / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()
