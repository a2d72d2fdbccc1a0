"""Who a staff member is to PEMS: a role and the sites it covers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from pems.access.roles import Role
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
