"""Roles and what each may do: data a site owner can read in one screen.

A person holds one role; the role grants capabilities; a capability is
checked against the site of the object acted on (see :mod:`pems.access.scope`).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Manager")
    CASHIER = "cashier", _("Cashier")
    OPERATOR = "operator", _("Operator (electrician)")
    READONLY = "readonly", _("Read-only")


class Capability(models.TextChoices):
    VIEW = "view", _("see rooms, meters, accounts and readings")
    EXPORT = "export", _("export tables to Excel")
    SELL = "sell", _("open accounts and sell credit")
    REFUND = "refund", _("refund credit")
    REVERSE = "reverse", _("reverse a wrong sale")
    CLOSE_ACCOUNT = "close_account", _("close an account")
    TARIFF = "tariff", _("create tariffs and change an account's tariff")
    THRESHOLDS = "thresholds", _("set alarm thresholds")
    SITE_DEFAULTS = (
        "site_defaults",
        _("set a site's default alarm thresholds, overdraft limit and reconnect minimum"),
    )
    CONTROL = "control", _("trip, close, keep power, resume prepaid, push settings")
    REPLACE_METER = "replace_meter", _("replace a meter")
    INVENTORY = "inventory", _("import and edit gateways and meters")
    AUDIT = "audit", _("read the audit log")
    STAFF = "staff", _("manage staff, roles and API tokens")


_C = Capability
_EVERYONE = {_C.VIEW, _C.EXPORT}

#: Role → capabilities. Money actions stay with cashiers and managers; switching
#: meters with operators and managers; a site's defaults with managers (its overdraft
#: limit extends credit to every tenant without one of their own); nobody but an
#: administrator manages staff.
GRANTS: dict[Role, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.MANAGER: frozenset(set(Capability) - {_C.STAFF}),
    Role.CASHIER: frozenset(_EVERYONE | {_C.SELL}),
    Role.OPERATOR: frozenset(_EVERYONE | {_C.CONTROL, _C.REPLACE_METER, _C.THRESHOLDS}),
    Role.READONLY: frozenset(_EVERYONE),
}
