"""`pems init`: create or migrate the database, load the catalogue, set up an admin.

Never prompts: the admin comes from flags or PEMS_ADMIN_* environment
variables, so the command is safe in scripts and CI.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from pems.inventory.models.catalogue import sync_catalogue


class Command(BaseCommand):
    help = "Create or migrate the database, load the meter catalogue, create or update an admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-username",
            default=os.environ.get("PEMS_ADMIN_USERNAME", ""),
            help="Create or update this superuser (env PEMS_ADMIN_USERNAME).",
        )
        parser.add_argument(
            "--admin-password",
            default=os.environ.get("PEMS_ADMIN_PASSWORD", ""),
            help="Its password (env PEMS_ADMIN_PASSWORD); required with a username.",
        )
        parser.add_argument(
            "--admin-email",
            default=os.environ.get("PEMS_ADMIN_EMAIL", ""),
            help="Its e-mail address (env PEMS_ADMIN_EMAIL).",
        )
        parser.add_argument(
            "--skip-static", action="store_true", help="Do not collect static files."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = options["admin_username"], options["admin_password"]
        if username and not password:
            raise CommandError(
                "--admin-password (or PEMS_ADMIN_PASSWORD) is required with --admin-username."
            )
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(f"database ready ({_database_label()})")
        self.stdout.write(f"meter catalogue: {sync_catalogue()} models")
        if not options["skip_static"]:
            call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write("static files collected")
        if username:
            created = ensure_admin(username, password, options["admin_email"])
            self.stdout.write(f"admin {username!r} {'created' if created else 'updated'}")


@transaction.atomic
def ensure_admin(username: str, password: str, email: str = "") -> bool:
    """Create the superuser or reset its password and rights; True when created."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    user.is_staff = user.is_superuser = user.is_active = True
    if email:
        user.email = email
    user.set_password(password)
    user.save()
    return created


def _database_label() -> str:
    from django.db import connection

    settings_dict = connection.settings_dict
    return f"{connection.vendor}: {settings_dict['NAME']}"
