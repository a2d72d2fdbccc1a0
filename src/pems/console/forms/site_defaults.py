"""The site defaults form: alarm 1, alarm 2, overdraft limit, reconnect minimum, a reason.

The defaults stand in for every account of the site that leaves its own empty.
The form checks what a form can (numbers, the site's own alarm rule, a reason);
:func:`pems.accounts.actions.set_site_thresholds` judges the change again when
the view saves it, and :meth:`SiteDefaultsForm.refuse` puts its refusal next to
the fields it names. A hidden ``key`` made when the form is first shown makes
a resubmitted page act once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from pems.accounts.actions import SITE_DEFAULTS
from pems.console.forms.base import new_key
from pems.console.forms.common import RefusedByField, reason_field
from pems.core.models import MONEY_PLACES
from pems.inventory.models import Site


def _default_field(label: Promise, help_text: Promise | str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=MONEY_PLACES,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


class SiteDefaultsForm(RefusedByField):
    """A site's four default thresholds, prefilled with the ones in force."""

    key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    default_alarm1_threshold = _default_field(_("Alarm 1 below"))
    default_alarm2_threshold = _default_field(_("Alarm 2 below"))
    default_overdraft_limit = _default_field(
        _("Overdraft limit"),
        _("Credit every tenant without a limit of their own may use before the supply is cut."),
    )
    default_reconnect_minimum = _default_field(_("Reconnect above"))
    reason = reason_field(
        error_messages={"required": _("Say why: the reason is kept in the audit log.")},
    )

    def __init__(self, *args: Any, site: Site, **kwargs: Any) -> None:
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("key", new_key())
        for name in SITE_DEFAULTS:
            initial.setdefault(name, getattr(site, name))
        super().__init__(*args, **kwargs)
        self.site = site

    def default_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in SITE_DEFAULTS]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if all(data.get(name) is not None for name in SITE_DEFAULTS):
            probe = Site(**{name: data[name] for name in SITE_DEFAULTS})
            try:
                probe.validate_constraints()  # the site's own rule: alarm 1 above alarm 2
            except ValidationError as error:
                self.refuse(error)
        return data

    def values(self) -> dict[str, Decimal]:
        """The four defaults as the action takes them (once valid)."""
        return {name: self.cleaned_data[name] for name in SITE_DEFAULTS}
