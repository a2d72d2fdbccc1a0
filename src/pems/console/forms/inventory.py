"""The sheet upload form (gateways and meters from the installer's sheet)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from pems.access.roles import Capability
from pems.access.scope import can, visible_sites
from pems.console.forms.common import reason_field
from pems.inventory.models import Site

SHEET_SUFFIXES = (".csv", ".xlsx")


class ImportForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    sheet = forms.FileField(
        label=_("Sheet (.xlsx or .csv)"),
        help_text=_("The installer's sheet, as `pems simulate --export-sheet` writes it."),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(SHEET_SUFFIXES)}),
    )
    dry_run = forms.BooleanField(
        label=_("Only check the sheet; write nothing"), required=False, initial=True
    )
    reason = reason_field()

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = [s.pk for s in visible_sites(user) if can(user, Capability.INVENTORY, s)]
        self.fields["site"].queryset = Site.objects.filter(pk__in=allowed)
        if len(allowed) == 1:  # nothing to choose: the one site is chosen
            self.fields["site"].initial = allowed[0]
            self.fields["site"].empty_label = None

    def clean_sheet(self) -> Any:
        sheet = self.cleaned_data["sheet"]
        if not sheet.name.lower().endswith(SHEET_SUFFIXES):
            raise forms.ValidationError(_("Upload a .xlsx or .csv sheet."))
        return sheet
