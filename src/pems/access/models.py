"""Who a staff member is to PEMS: a role and the sites it covers; API tokens acting for them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from pems.access.roles import Role
from pems.core import rows
from pems.core.models import TimestampedModel
from pems.inventory.models import Site


class Staff(TimestampedModel):
    """A login's role and scope; a login without one sees nothing (superusers excepted)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    all_sites = models.BooleanField(
        _("all sites"), default=False, help_text=_("Covers every site, present and future.")
    )
    sites = models.ManyToManyField(Site, blank=True, related_name="staff", verbose_name=_("sites"))

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()})"


def token_digest(secret: str) -> str:
    """What is stored for a token: its SHA-256, never the secret itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the REST API, acting as its user with the user's role and scope.

    Only the SHA-256 of the secret is kept: the secret is shown once, when the
    token is issued. A revoked token stays listed (who had access, and until when).
    """

    #: ``last_used_at`` is refreshed at most this often, so reads do not become writes.
    TOUCH_EVERY = timedelta(minutes=1)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(
        _("name"),
        max_length=100,
        help_text=_("What the token is for, e.g. the integrating system."),
    )
    digest = models.CharField(_("SHA-256 of the token"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(
        pgettext_lazy("timestamp", "created"), auto_now_add=True, editable=False
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name} ({self.user.get_username()})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def issue(cls, user: Any, name: str) -> tuple[ApiToken, str]:
        """A new token for ``user`` and its secret (shown once, then only its digest remains)."""
        secret = secrets.token_urlsafe(32)
        token = cls(user=user, name=name, digest=token_digest(secret))
        token.full_clean()
        token.save()
        return token, secret

    @classmethod
    def holder(cls, secret: str) -> ApiToken | None:
        """The active token of an active user with this secret, or None.

        Read with its user and their staff row (role, sites) in one statement.
        """
        token = _read_holder(token_digest(secret))
        if token is not None:
            token.touch()
        return token

    def touch(self) -> None:
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= self.TOUCH_EVERY:
            type(self).objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now

    def revoke(self) -> bool:
        """Revoke now; False if it was already revoked."""
        now = timezone.now()
        done = type(self).objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now)
        if done:
            self.revoked_at = now
        return bool(done)


def _read_holder(digest: str) -> ApiToken | None:
    """Every API request asks this first, so the statement is written out once, not compiled
    by the ORM each time (≈ 0.6 ms of a request's CPU; docs/benchmarks.md)."""
    sql, token, user, staff = _holder_query(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [digest, True])
        row = cursor.fetchone()
    if row is None:
        return None
    split, rest = len(token), len(token) + len(user)
    found: ApiToken = token.instance(row[:split])  # type: ignore[assignment]
    holder = user.instance(row[split:rest])
    found.user = holder
    role = staff.instance(row[rest:]) if row[rest] is not None else None  # no staff row: no role
    _STAFF_USER.remote_field.set_cached_value(holder, role)  # holder.staff, or DoesNotExist
    if role is not None:
        _STAFF_USER.set_cached_value(role, holder)
    return found


@cache
def _holder_query(vendor: str) -> tuple[str, rows.Selection, rows.Selection, rows.Selection]:
    user_model = get_user_model()
    token = rows.Selection(ApiToken, "t")
    user = rows.Selection(user_model, "u")
    staff = rows.Selection(Staff, "s")
    user_id = rows.col(user_model, "id", "u")
    sql = (
        f"SELECT {token.sql}, {user.sql}, {staff.sql} FROM {rows.table(ApiToken, 't')}"  # noqa: S608
        f" JOIN {rows.table(user_model, 'u')} ON {user_id} = {rows.col(ApiToken, 'user', 't')}"
        f" LEFT JOIN {rows.table(Staff, 's')} ON {rows.col(Staff, 'user', 's')} = {user_id}"
        f" WHERE {rows.col(ApiToken, 'digest', 't')} = %s"
        f" AND {rows.col(ApiToken, 'revoked_at', 't')} IS NULL"
        f" AND {rows.col(user_model, 'is_active', 'u')} = %s"
    )
    return sql, token, user, staff


_STAFF_USER = Staff._meta.get_field("user")
