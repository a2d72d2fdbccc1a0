"""`pems token`: issue, list and revoke REST API tokens.

``pems token create USERNAME --name NAME`` prints the secret once; only its
SHA-256 is stored. The token acts as USERNAME, with their role and sites.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from pems.access.models import ApiToken
from pems.access.scope import role_of
from pems.audit.log import record

_ACTOR = "pems token"


class Command(BaseCommand):
    help = "Issue (create), list or revoke REST API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Issue a token for a user; prints it once.")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="What the token is for.")
        create.add_argument("--reason", default="", help="Why (kept in the audit log).")
        revoke = sub.add_parser("revoke", help="Revoke a token by its id.")
        revoke.add_argument("id", type=int)
        revoke.add_argument("--reason", default="", help="Why (kept in the audit log).")
        listing = sub.add_parser("list", help="List tokens (never their secrets).")
        listing.add_argument("--user", help="Only this user's tokens.")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active user {options['username']!r}.")
        if role_of(user) is None:
            raise CommandError(
                f"{user.get_username()} has no PEMS role: give them one (admin → Staff) first."
            )
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be empty.")
        with transaction.atomic():
            token, secret = ApiToken.issue(user, name)
            record(
                _ACTOR,
                "token.create",
                token,
                {"user": user.get_username(), "name": name},
                options["reason"],
            )
        self.stderr.write(
            f"Token #{token.pk} for {user.get_username()} ({name}). Keep it now: "
            "PEMS stores only its hash and cannot show it again."
        )
        self.stdout.write(secret)

    def _revoke(self, options: dict[str, Any]) -> None:
        token = ApiToken.objects.select_related("user").filter(pk=options["id"]).first()
        if token is None:
            raise CommandError(f"No token #{options['id']}.")
        with transaction.atomic():
            revoked = token.revoke()
            if revoked:
                record(
                    _ACTOR,
                    "token.revoke",
                    token,
                    {"revoked_at": str(token.revoked_at)},
                    options["reason"],
                )
        state = "revoked" if revoked else "was already revoked"
        self.stdout.write(f"Token #{token.pk} ({token.name}, {token.user.get_username()}) {state}.")

    def _list(self, options: dict[str, Any]) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("pk")
        if options["user"]:
            tokens = tokens.filter(user__username=options["user"])
        for token in tokens:
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
            self.stdout.write(
                f"#{token.pk:<5} {token.user.get_username():<20} {token.name:<30} "
                f"last used {used:<16} {state}"
            )
