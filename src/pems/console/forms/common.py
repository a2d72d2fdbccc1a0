"""What the console's forms share: the reason kept in the audit log, offering the person's
sites, and a refusal put by field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def reason_field(required: bool = True, **options: Any) -> forms.CharField:
    """Why the person acts; kept in the audit log with their name."""
    return forms.CharField(
        label=_("Reason"),
        required=required,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept in the audit log with your name."),
        **options,
    )


def offer_sites(field: forms.ModelChoiceField, sites: Any) -> None:
    """Let ``field`` choose among ``sites``; with only one, it is chosen."""
    field.queryset = sites
    if len(sites) == 1:  # nothing to choose
        field.initial = sites[0].pk
        field.empty_label = None


class RefusedByField(forms.Form):
    """A form whose action's refusal (a ``ValidationError``) is shown next to the fields it
    names, and above the form when it names none of them."""

    def refuse(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for name, messages in error.message_dict.items():
            self.add_error(name if name in self.fields else None, messages)
