"""The shape of every money and control form: fill in, confirm with a reason, done once.

Step one validates the fields; step two shows :meth:`ActionForm.summary` (what
will happen) and asks for the reason, which goes to the audit log with the
person. A hidden ``key`` made when the form is first shown travels through
both steps: the domain actions use it as their idempotency key, so a
double-click or a resubmitted page acts once.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from pems.access.roles import Capability
from pems.accounts.models import Account
from pems.console.access import site_of
from pems.console.forms.common import reason_field
from pems.domain.errors import PrecisionError
from pems.domain.money import Money, minor_unit
from pems.inventory.models import MeteringPoint, Site
from pems.ledger.models import Channel

Line = tuple[Any, Any]


def new_key() -> str:
    return uuid.uuid4().hex


class ActionForm(forms.Form):
    """A money or control action on one metering point (and its open account)."""

    capability: ClassVar[Capability]
    title: ClassVar[Promise]
    confirm_label: ClassVar[Promise] = _("Confirm")
    #: A reason prefilled on the confirmation step (only for the everyday sale).
    default_reason: ClassVar[Promise | str] = ""
    #: Shown in red: the action takes money or power away.
    danger: ClassVar[bool] = False
    needs_account: ClassVar[bool | None] = True  # None: either way
    #: Templates list the form classes themselves (the room page's buttons).
    do_not_call_in_templates: ClassVar[bool] = True

    key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    reason = reason_field(required=False)

    def __init__(
        self,
        *args: Any,
        point: MeteringPoint,
        account: Account | None,
        confirming: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("initial", {}).setdefault("key", new_key())
        super().__init__(*args, **kwargs)
        self.point = point
        self.account = account
        self.site: Site = site_of(point)
        self.confirming = confirming
        # Shown on the confirmation step only, where the browser may insist on it too.
        self.fields["reason"].widget.attrs["required"] = True

    @classmethod
    def unavailable(cls, point: MeteringPoint, account: Account | None) -> str | None:
        """Why the action makes no sense for this point now (None: it does)."""
        if cls.needs_account is True and account is None:
            return str(_("No open account pays for this point."))
        if cls.needs_account is False and account is not None:
            return str(_("An open account already pays for this point."))
        return None

    def clean_reason(self) -> str:
        reason = self.cleaned_data.get("reason", "").strip()
        if self.confirming and not reason:
            raise forms.ValidationError(_("Say why: the reason is kept in the audit log."))
        return reason

    def money(self, amount: Decimal) -> Money:
        return Money(amount, self.site.currency)

    def clean_money(self, name: str) -> Money | None:
        """A money field as ``Money`` in the site's currency, or a field error."""
        amount = self.cleaned_data.get(name)
        if amount is None:
            return None
        try:
            return self.money(amount)
        except PrecisionError:
            self.add_error(
                name,
                _("%(currency)s amounts are whole multiples of %(unit)s.")
                % {"currency": self.site.currency, "unit": minor_unit(self.site.currency)},
            )
            return None

    def summary(self) -> list[Line]:
        """What will happen, as (label, value) lines for the confirmation page."""
        return []

    def perform(self, actor: Any) -> str:
        """Do it (one transaction) and return where to go next."""
        raise NotImplementedError


def money_field(label: Promise, required: bool = True) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


def threshold_field(label: Promise) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        min_value=Decimal("0"),
        max_digits=12,
        decimal_places=2,
        help_text=_("Empty: the site's default."),
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


def channel_field() -> forms.ChoiceField:
    return forms.ChoiceField(label=_("Paid by"), choices=Channel.choices, initial=Channel.CASH)
