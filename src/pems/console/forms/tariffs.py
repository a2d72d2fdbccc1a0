"""Tariff forms: a new tariff, and a revision of one (the TOML document pasted or uploaded).

The forms check what a form can (a document is given, the name is free, the
file is text); the document itself is judged by :mod:`pems.billing.tariffs`
when the view calls its action, and :func:`document_problems` turns its
refusal into the lines shown next to the document field.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from pems.access.roles import Capability
from pems.billing.models import Tariff
from pems.billing.tariffs import TariffChangeRefused
from pems.console.access import sites_where
from pems.console.forms.common import offer_sites, reason_field
from pems.domain.errors import DomainError, FileFormatError
from pems.inventory.choices import Utility
from pems.inventory.models import Site

#: A tariff document is a page or two of TOML; anything far larger is the wrong file.
MAX_UPLOAD_BYTES = 256 * 1024
#: The exceptions :func:`document_problems` explains (the actions write nothing then).
DOCUMENT_REFUSALS: tuple[type[Exception], ...] = (DomainError, TariffChangeRefused)


def document_problems(error: Exception) -> list[str]:
    """Every problem a refused document has, in the reader's language, each with its field."""
    if isinstance(error, FileFormatError):
        return [problem.describe(_) for problem in error.problems]
    if isinstance(error, DomainError):
        return [error.message.text(_)]
    return [str(error)]


def _text(value: str) -> str:
    """Browsers send a textarea's lines ending in CRLF: store them as a file would be."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


class TariffDocumentForm(forms.Form):
    """The document (typed, or from a file) and the reason kept in the audit log."""

    document = forms.CharField(
        label=gettext_lazy("Tariff document (TOML)"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"}),
        help_text=gettext_lazy("The format is described in docs/tariffs.md."),
    )
    upload = forms.FileField(
        label=gettext_lazy("Or upload a .toml file"),
        required=False,
        help_text=gettext_lazy("When a file is chosen, it is used instead of the text above."),
        widget=forms.ClearableFileInput(attrs={"accept": ".toml,text/plain"}),
    )
    reason = reason_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("upload")
        if upload:
            if upload.size > MAX_UPLOAD_BYTES:
                self.add_error("upload", _("The file is too large for a tariff document."))
                return data
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("upload", _("The file is not UTF-8 text."))
                return data
            data["document"] = _text(text)
            # Shown in the text area if the page comes back: the person edits it there.
            self.data = self.data.copy()
            self.data[self.add_prefix("document")] = data["document"]
        else:
            data["document"] = _text(data.get("document", ""))
        if not data["document"].strip():
            self.add_error("document", _("Paste the tariff document or upload a file."))
        return data

    def refuse(self, error: Exception) -> None:
        """Show a refused document's problems next to the document field."""
        for problem in document_problems(error):
            self.add_error("document", problem)


class NewTariffForm(TariffDocumentForm):
    site = forms.ModelChoiceField(label=gettext_lazy("Site"), queryset=Site.objects.none())
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    utility = forms.ChoiceField(
        label=gettext_lazy("Utility"), choices=Utility.choices, initial=Utility.ELECTRICITY
    )

    field_order = ["site", "name", "utility", "document", "upload", "reason"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offer_sites(self.fields["site"], sites_where(user, Capability.TARIFF))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        site, name = data.get("site"), data.get("name")
        if site is not None and name and Tariff.objects.filter(site=site, name=name).exists():
            self.add_error("name", _("The site already has a tariff with this name."))
        return data


class ReviseTariffForm(TariffDocumentForm):
    def __init__(self, *args: Any, tariff: Tariff, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("document", tariff.document)
        super().__init__(*args, **kwargs)
        self.tariff = tariff
        self.fields["document"].help_text = gettext_lazy(
            "Versions already in force cannot change: add a version with a future "
            "effective_from. The format is described in docs/tariffs.md."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("document") and data["document"] == _text(self.tariff.document):
            self.add_error("document", _("The document is unchanged: nothing to save."))
        return data
