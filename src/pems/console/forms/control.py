"""Control forms: relay commands, thresholds, tariff, meter replacement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from pems.access.roles import Capability
from pems.accounts.models import Account
from pems.billing.meter_settings import meter_side_points
from pems.billing.models import Tariff
from pems.console import operations
from pems.console.forms.base import ActionForm, Line, threshold_field
from pems.control.models import Command, CommandStatus
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.metering.models import ENERGY_PLACES


def _point_url(form: ActionForm) -> str:
    return reverse("console:point", args=[form.point.pk])


class RelayForm(ActionForm):
    """Trip, close, keep power or resume prepaid control: one command to the meter."""

    capability = Capability.CONTROL
    needs_account = None
    command: ClassVar[str] = "trip"
    explanation: ClassVar[Promise]

    def summary(self) -> list[Line]:
        lines: list[Line] = [
            (_("Metering point"), self.point),
            (_("Meter"), self.point.meter_number),
            (_("What happens"), self.explanation),
        ]
        if self.account is not None:
            lines.insert(0, (_("Tenant"), self.account.tenant))
        return lines

    def perform(self, actor: Any) -> str:
        data = self.cleaned_data
        operations.relay(self.point, self.command, actor, data["reason"], data["key"])
        return _point_url(self)


class TripForm(RelayForm):
    title = _("Trip (switch off)")
    confirm_label = _("Trip the meter")
    danger = True
    command = "trip"
    explanation = _("The meter switches the supply off and stays off until someone closes it.")


class CloseForm(RelayForm):
    title = _("Close (switch on)")
    confirm_label = _("Close the relay")
    command = "close"
    explanation = _(
        "The meter switches the supply on. With no credit, the prepaid policy may trip it again."
    )


class KeepPowerForm(RelayForm):
    title = _("Keep power on (保电)")
    confirm_label = _("Keep power on")
    command = "keep-power"
    explanation = _(
        "The supply stays on whatever the credit: no automatic trip "
        "until prepaid control is resumed."
    )


class ResumePrepaidForm(RelayForm):
    title = _("Resume prepaid control")
    confirm_label = _("Resume prepaid control")
    command = "resume-prepaid"
    explanation = _(
        "Keep-power and forced states end; the credit decides the supply again "
        "(a point without credit is tripped)."
    )


class CancelCommandForm(ActionForm):
    """Withdraw a command the collector has not sent yet (a credit push goes with its sale)."""

    capability = Capability.CONTROL
    title = _("Cancel a command")
    confirm_label = _("Cancel the command")
    needs_account = None

    def __init__(self, *args: Any, command: Command, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command = command

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.command.status != CommandStatus.PENDING:
            raise ValidationError(
                _("The command is already %(status)s; only a pending one can be cancelled.")
                % {"status": self.command.get_status_display()}
            )
        return data

    def summary(self) -> list[Line]:
        return [
            (_("Command"), self.command.get_kind_display()),
            (_("Queued"), self.command.created_at),
            (_("By"), self.command.requested_by),
            (_("What happens"), _("the collector will not send it")),
        ]

    def perform(self, actor: Any) -> str:
        if not operations.control.cancel(
            self.command, actor=actor, reason=self.cleaned_data["reason"]
        ):
            raise operations.OperationRefused(_("The collector has just sent it."))
        return _point_url(self)


RELAY_FORMS: dict[str, type[RelayForm]] = {
    form.command: form for form in (TripForm, CloseForm, KeepPowerForm, ResumePrepaidForm)
}

_THRESHOLDS = {
    "alarm1_threshold": "alarm1",
    "alarm2_threshold": "alarm2",
    "overdraft_limit": "overdraft",
    "reconnect_minimum": "reconnect",
}


class ThresholdsForm(ActionForm):
    capability = Capability.THRESHOLDS
    title = _("Set thresholds")
    confirm_label = _("Save the thresholds")

    alarm1_threshold = threshold_field(_("Alarm 1 below"))
    alarm2_threshold = threshold_field(_("Alarm 2 below"))
    overdraft_limit = threshold_field(_("Overdraft limit"))
    reconnect_minimum = threshold_field(_("Reconnect above"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        account: Account | None = kwargs.get("account")
        if account is not None:
            initial = kwargs.setdefault("initial", {})
            for name in _THRESHOLDS:
                initial.setdefault(name, getattr(account, name))
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert self.account is not None  # noqa: S101 — needs_account
        probe = Account(tenant=self.account.tenant)
        for name in _THRESHOLDS:
            setattr(probe, name, data.get(name))
        try:
            probe.clean()  # the account's own rule: alarm 1 above alarm 2, defaults counted
        except ValidationError as exc:
            self.add_error(None, exc)
        data["effective"] = probe.effective_thresholds()
        return data

    def values(self) -> dict[str, Decimal | None]:
        return {name: self.cleaned_data.get(name) for name in _THRESHOLDS}

    def summary(self) -> list[Line]:
        assert self.account is not None  # noqa: S101
        before = self.account.effective_thresholds()
        after = self.cleaned_data["effective"]
        labels = {name: self.fields[name].label for name in _THRESHOLDS}
        lines: list[Line] = [(_("Tenant"), self.account.tenant)]
        for name, key in _THRESHOLDS.items():
            lines.append((labels[name], f"{before[key]} → {after[key]} {self.site.currency}"))
        if meter_side_points(self.account):
            lines.append((_("Meter"), _("the new thresholds are sent to the meter")))
        return lines

    def perform(self, actor: Any) -> str:
        assert self.account is not None  # noqa: S101
        data = self.cleaned_data
        operations.set_thresholds(self.account, self.values(), actor, data["reason"], data["key"])
        return _point_url(self)


class TariffForm(ActionForm):
    capability = Capability.TARIFF
    title = _("Set the tariff")
    confirm_label = _("Change the tariff")

    tariff = forms.ModelChoiceField(label=_("Tariff"), queryset=Tariff.objects.none())
    effective_from = forms.DateTimeField(
        label=pgettext_lazy("tariff start", "From"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Consumption from this moment is priced under the new tariff."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault(
            "effective_from", timezone.localtime().replace(second=0, microsecond=0)
        )
        super().__init__(*args, **kwargs)
        self.fields["tariff"].queryset = Tariff.objects.filter(
            site=self.site, utility=self.point.utility
        )

    def summary(self) -> list[Line]:
        assert self.account is not None  # noqa: S101
        data = self.cleaned_data
        lines: list[Line] = [
            (_("Tenant"), self.account.tenant),
            (_("New tariff"), data["tariff"]),
            (pgettext_lazy("tariff start", "From"), data["effective_from"]),
        ]
        if meter_side_points(self.account):
            lines.append((_("Meter"), _("the new prices are sent to the meter when they start")))
        return lines

    def perform(self, actor: Any) -> str:
        assert self.account is not None  # noqa: S101
        data = self.cleaned_data
        operations.set_tariff(
            self.account, data["tariff"], data["effective_from"], actor, data["reason"], data["key"]
        )
        return _point_url(self)


def _energy_field(label: Promise, required: bool = True) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=Decimal(0),
        max_digits=15,
        decimal_places=ENERGY_PLACES,
        widget=forms.NumberInput(attrs={"step": "0.001", "inputmode": "decimal"}),
    )


class ReplaceMeterForm(ActionForm):
    capability = Capability.REPLACE_METER
    title = _("Replace the meter")
    confirm_label = _("Record the exchange")
    needs_account = None
    danger = True

    new_number = forms.CharField(label=_("New meter number"), max_length=16)
    old_total = _energy_field(_("Old meter's final total (kWh)"))
    old_remaining_credit = forms.DecimalField(
        label=_("Credit left on the old meter"),
        required=False,
        max_digits=12,
        decimal_places=2,
        help_text=_("Meter-side points: read it off the old meter's display."),
    )
    new_initial_total = _energy_field(_("New meter's starting total (kWh)"))
    new_purchase_count = forms.IntegerField(
        label=_("New meter's purchase count"), min_value=0, initial=0
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.point.fee_control != FeeControl.METER_SIDE:
            del self.fields["old_remaining_credit"]
            del self.fields["new_purchase_count"]

    @classmethod
    def unavailable(cls, point: MeteringPoint, account: Account | None) -> str | None:
        if point.meter.address_count > 1:
            return str(_("A multi-circuit box is replaced as a box, not one circuit."))
        return super().unavailable(point, account)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        meter_side = self.point.fee_control == FeeControl.METER_SIDE
        if meter_side and self.account is not None and data.get("old_remaining_credit") is None:
            self.add_error(
                "old_remaining_credit", _("Needed to carry the tenant's credit to the new meter.")
            )
        return data

    def summary(self) -> list[Line]:
        data = self.cleaned_data
        lines: list[Line] = [
            (_("Metering point"), self.point),
            (_("Old meter"), f"{self.point.meter.number} — {data['old_total']} kWh"),
            (_("New meter"), f"{data['new_number']} — {data['new_initial_total']} kWh"),
        ]
        if self.account is not None:
            if self.point.fee_control == FeeControl.METER_SIDE:
                lines.append(
                    (
                        _("Credit"),
                        _("%(credit)s is carried to the new meter")
                        % {"credit": data.get("old_remaining_credit")},
                    )
                )
            else:
                lines.append((_("Billing"), _("the old meter is settled up to its final total")))
        return lines

    def perform(self, actor: Any) -> str:
        data = self.cleaned_data
        operations.replace(
            self.point,
            data["new_number"].strip(),
            data["old_total"],
            data.get("old_remaining_credit"),
            data["new_initial_total"],
            data.get("new_purchase_count") or 0,
            actor,
            data["reason"],
        )
        return _point_url(self)
