"""The keep-power period form (保电时段): a site, from–until, the kinds of day, a reason.

The form checks what a form can (a site the person may control, two times);
the period itself is judged by :func:`pems.billing.keep_power.add_period` when
the view calls it, and :meth:`KeepPowerForm.refuse` puts its refusal next to
the fields it names.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy, pgettext_lazy

from pems.access.roles import Capability
from pems.billing.keep_power import PeriodSpec
from pems.console.access import sites_where
from pems.console.forms.common import RefusedByField, offer_sites, reason_field
from pems.inventory.models import Site

#: The day-kind boxes, in the order the page shows them.
DAY_FIELDS = ("on_workdays", "on_weekends", "on_holidays")


def _time_input() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class KeepPowerForm(RefusedByField):
    """A new period for one site; ``from == until`` keeps power the whole day."""

    site = forms.ModelChoiceField(label=gettext_lazy("Site"), queryset=Site.objects.none())
    start = forms.TimeField(label=pgettext_lazy("time of day", "From"), widget=_time_input())
    end = forms.TimeField(
        label=pgettext_lazy("time of day", "Until"),
        widget=_time_input(),
        help_text=gettext_lazy(
            "The same as “From”: the whole day. Earlier than “From”: the period crosses "
            "midnight, and each side of midnight counts on its own date's kind of day."
        ),
    )
    on_workdays = forms.BooleanField(label=gettext_lazy("Workdays"), required=False, initial=True)
    on_weekends = forms.BooleanField(label=gettext_lazy("Weekends"), required=False, initial=True)
    on_holidays = forms.BooleanField(
        label=gettext_lazy("Public holidays"),
        required=False,
        initial=True,
        help_text=gettext_lazy("Chinese statutory holidays."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("Shown with the period and kept in the audit log with your name."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offer_sites(self.fields["site"], sites_where(user, Capability.CONTROL))

    def day_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in DAY_FIELDS]

    def day_errors(self) -> list[str]:
        return [e for name in DAY_FIELDS for e in self.errors.get(name, [])]

    def spec(self) -> PeriodSpec:
        """The period as :func:`~pems.billing.keep_power.add_period` takes it (once valid)."""
        data = self.cleaned_data
        return PeriodSpec(
            start=data["start"],
            end=data["end"],
            on_workdays=data["on_workdays"],
            on_weekends=data["on_weekends"],
            on_holidays=data["on_holidays"],
            reason=data["reason"],
        )


class RemovePeriodForm(forms.Form):
    """The confirmation of a removal: why, for the audit log."""

    reason = reason_field(required=False)
