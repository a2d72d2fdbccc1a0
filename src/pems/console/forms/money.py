"""Money forms: open an account, sell, refund, reverse, recall or take over a meter's credit,
close."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from pems.access.roles import Capability
from pems.accounts import actions as accounts
from pems.accounts.models import Account, Tenant
from pems.billing import recall, takeover
from pems.billing.actions import fee_ratio
from pems.billing.models import Tariff
from pems.console import operations
from pems.console.forms.base import ActionForm, Line, channel_field, money_field
from pems.console.receipts import tenant_credit
from pems.domain.fees import split_top_up
from pems.domain.money import Money
from pems.inventory.choices import FeeControl
from pems.inventory.models import MeteringPoint
from pems.inventory.validators import validate_mobile
from pems.ledger.models import Channel, JournalEntry, LedgerAccount
from pems.metering.models import PointState


def _point_url(form: ActionForm) -> str:
    return reverse("console:point", args=[form.point.pk])


def _money_text(amount: Any, currency: str) -> str:
    return f"{amount} {currency}"


class OpenAccountForm(ActionForm):
    capability = Capability.SELL
    title = _("Open an account")
    confirm_label = _("Open the account")
    needs_account = False

    tenant = forms.ModelChoiceField(
        label=_("Existing tenant"), queryset=Tenant.objects.none(), required=False
    )
    new_tenant = forms.CharField(label=_("or a new tenant's name"), max_length=100, required=False)
    mobile = forms.CharField(label=_("Mobile phone (new tenant)"), max_length=20, required=False)
    contact_name = forms.CharField(label=_("Contact person"), max_length=100, required=False)
    tariff = forms.ModelChoiceField(
        label=_("Tariff"), queryset=Tariff.objects.none(), required=False
    )
    amount = money_field(_("First purchase"), required=False)
    channel = channel_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = Tenant.objects.filter(site=self.site).order_by("name")
        self.fields["tariff"].queryset = Tariff.objects.filter(
            site=self.site, utility=self.point.utility
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        tenant, new = data.get("tenant"), data.get("new_tenant", "").strip()
        if bool(tenant) == bool(new):
            self.add_error("tenant", _("Choose an existing tenant or type a new tenant's name."))
        if new:
            if not data.get("mobile"):
                self.add_error("mobile", _("A new tenant needs a mobile phone for warnings."))
            else:
                try:
                    validate_mobile(data["mobile"])
                except forms.ValidationError as exc:
                    self.add_error("mobile", exc)
        data["first_purchase"] = self.clean_money("amount")
        return data

    def summary(self) -> list[Line]:
        data = self.cleaned_data
        lines: list[Line] = [
            (_("Tenant"), data["tenant"] or _("new: %(name)s") % {"name": data["new_tenant"]}),
            (_("Metering point"), self.point),
            (_("Tariff"), data["tariff"] or _("none yet (server-side points are not charged)")),
        ]
        purchase = data["first_purchase"]
        if purchase is not None:
            lines.append((_("First purchase"), purchase))
            lines.append((_("Paid by"), Channel(data["channel"]).label))
        return lines

    def perform(self, actor: Any) -> str:
        data = self.cleaned_data
        reason = data["reason"]
        tenant = data["tenant"] or accounts.create_tenant(
            self.site.pk,
            data["new_tenant"].strip(),
            actor,
            reason,
            mobile=data["mobile"],
            contact_name=data["contact_name"],
            room_id=self.point.room_id,
        )
        opened = operations.open_account(
            self.point,
            tenant,
            data["tariff"],
            data["first_purchase"],
            data["channel"],
            actor,
            reason,
            data["key"],
        )
        if opened.sale is not None:
            return reverse("console:receipt", args=[opened.sale.pk])
        return _point_url(self)


class SellForm(ActionForm):
    capability = Capability.SELL
    title = _("Sell credit")
    confirm_label = _("Take the money and sell")
    default_reason = _("Counter sale")

    amount = money_field(_("Amount paid"))
    channel = channel_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["amount"].widget.attrs["autofocus"] = True  # the cashier types at once

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["money"] = self.clean_money("amount")
        return data

    def summary(self) -> list[Line]:
        assert self.account is not None  # noqa: S101 — needs_account
        paid: Money = self.cleaned_data["money"]
        split = split_top_up(paid, fee_ratio(self.account))
        now = tenant_credit(self.account)
        lines: list[Line] = [
            (_("Tenant"), self.account.tenant),
            (_("Metering point"), self.point),
            (_("Amount paid"), paid),
            (_("Paid by"), Channel(self.cleaned_data["channel"]).label),
            (_("Service fee"), split.fee),
            (_("Credited"), split.credited),
            (_("Balance now"), _money_text(now, self.site.currency)),
            (_("Balance after"), _money_text(now + split.credited.amount, self.site.currency)),
        ]
        if self.point.fee_control == FeeControl.METER_SIDE:
            sent = _("the credit is sent to meter %(number)s")
            lines.append((_("Meter"), sent % {"number": self.point.meter_number}))
        return lines

    def perform(self, actor: Any) -> str:
        assert self.account is not None  # noqa: S101
        data = self.cleaned_data
        sale = operations.sell(
            self.account, data["money"], data["channel"], actor, data["reason"], data["key"]
        )
        return reverse("console:receipt", args=[sale.pk])


class RefundForm(ActionForm):
    capability = Capability.REFUND
    title = _("Refund credit")
    confirm_label = _("Refund")
    danger = True

    amount = money_field(_("Amount to pay back"))
    channel = channel_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["money"] = self.clean_money("amount")
        return data

    def summary(self) -> list[Line]:
        assert self.account is not None  # noqa: S101
        paid: Money = self.cleaned_data["money"]
        wallet = operations.accounts.balance(self.account)
        return [
            (_("Tenant"), self.account.tenant),
            (_("Pay back"), paid),
            (_("Paid by"), Channel(self.cleaned_data["channel"]).label),
            (_("Prepaid balance now"), wallet),
            (_("Prepaid balance after"), _money_text(wallet.amount - paid.amount, paid.currency)),
        ]

    def perform(self, actor: Any) -> str:
        assert self.account is not None  # noqa: S101
        data = self.cleaned_data
        operations.refund(
            self.account, data["money"], data["channel"], actor, data["reason"], data["key"]
        )
        return _point_url(self)


class ReverseForm(ActionForm):
    """Reverse (冲正) one recharge or refund of the point's open account."""

    capability = Capability.REVERSE
    title = _("Reverse an entry")
    confirm_label = _("Reverse it")
    danger = True

    def __init__(self, *args: Any, entry: JournalEntry, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entry = entry

    def summary(self) -> list[Line]:
        wallet = sum(
            (
                p.amount
                for p in self.entry.postings.select_related("ledger_account")
                if p.ledger_account.kind == LedgerAccount.Kind.WALLET
            ),
            start=Decimal("0.00"),
        )
        return [
            (_("Entry"), f"#{self.entry.pk} {self.entry.get_kind_display()}"),
            (_("Posted"), self.entry.created_at),
            (_("By"), self.entry.actor_label),
            (_("Prepaid balance changes by"), _money_text(-wallet, self.site.currency)),
            (
                _("Meter"),
                _(
                    "credit not yet sent to a meter is recalled; "
                    "once a meter has it, the reversal is refused"
                ),
            ),
        ]

    def perform(self, actor: Any) -> str:
        operations.billing.reverse_sale(self.entry, actor, self.cleaned_data["reason"])
        return _point_url(self)


class RecallCreditForm(ActionForm):
    """Take a meter-side meter's credit back to the prepaid balance, so the account can close."""

    capability = Capability.CLOSE_ACCOUNT
    title = recall.RECALL_LABEL
    confirm_label = _("Trip the meter and recall its credit")
    danger = True

    @classmethod
    def unavailable(cls, point: MeteringPoint, account: Account | None) -> str | None:
        if point.fee_control != FeeControl.METER_SIDE:
            return str(_("Only a meter-side meter holds credit to recall."))
        return super().unavailable(point, account)

    def summary(self) -> list[Line]:
        assert self.account is not None  # noqa: S101 — needs_account
        sent = recall.sent_and_held(self.account, self.point)
        state = PointState.objects.filter(point=self.point).first()
        reported = state.remaining_credit if state is not None else None
        return [
            (_("Tenant"), self.account.tenant),
            (_("Meter"), self.point.meter_number),
            (_("Credit PEMS sent that the meter holds"), _money_text(sent, self.site.currency)),
            (
                _("Remaining credit the meter last reported"),
                _("unknown") if reported is None else _money_text(reported, self.site.currency),
            ),
            (
                _("What happens"),
                _(
                    "The meter is tripped, its remaining credit read and cleared; that credit "
                    "goes back to the prepaid balance (never more than PEMS sent), and what the "
                    "meter used is charged. Then the account can be closed with a refund."
                ),
            ),
        ]

    def perform(self, actor: Any) -> str:
        assert self.account is not None  # noqa: S101
        data = self.cleaned_data
        operations.recall_credit(self.account, self.point, actor, data["reason"], data["key"])
        return _point_url(self)


class TakeOverCreditForm(ActionForm):
    """Book credit a meter holds beyond what PEMS sent (flagged as drift) as the tenant's."""

    capability = Capability.CLOSE_ACCOUNT
    title = takeover.TAKEOVER_LABEL
    confirm_label = _("Take over the credit")

    amount = money_field(_("Credit to take over"))

    @classmethod
    def unavailable(cls, point: MeteringPoint, account: Account | None) -> str | None:
        if point.fee_control != FeeControl.METER_SIDE:
            return str(_("Only a meter-side meter holds credit to take over."))
        if account is not None and takeover.drift_to_take_over(account, point) is None:
            return str(_("PEMS has found no credit on this meter beyond what it sent."))
        return super().unavailable(point, account)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        found = takeover.drift_to_take_over(self.account, self.point) if self.account else None
        if found is not None:
            self.fields["amount"].initial = found.drift

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["money"] = self.clean_money("amount")
        return data

    def summary(self) -> list[Line]:
        assert self.account is not None  # noqa: S101 — needs_account
        found = takeover.drift_to_take_over(self.account, self.point)
        currency = self.site.currency
        lines: list[Line] = [
            (_("Tenant"), self.account.tenant),
            (_("Meter"), self.point.meter_number),
        ]
        if found is not None:
            lines += [
                (_("Credit the meter reported"), _money_text(found.reported, currency)),
                (_("Credit PEMS sent that the meter holds"), _money_text(found.expected, currency)),
                (_("Beyond what PEMS sent"), _money_text(found.drift, currency)),
            ]
        return [
            *lines,
            (_("Take over"), self.cleaned_data["money"]),
            (
                _("What happens"),
                _(
                    "The amount becomes the tenant's credit on the meter, as if sold before PEMS "
                    "(the site's taken-over account): what the meter uses of it is charged, and a "
                    "recall returns it. First find out who loaded it: a meter loaded outside PEMS "
                    "may have been tampered with."
                ),
            ),
        ]

    def perform(self, actor: Any) -> str:
        assert self.account is not None  # noqa: S101
        data = self.cleaned_data
        operations.take_over_credit(
            self.account, self.point, data["money"], actor, data["reason"], data["key"]
        )
        return _point_url(self)


class CloseAccountForm(ActionForm):
    capability = Capability.CLOSE_ACCOUNT
    title = _("Close the account")
    confirm_label = _("Close the account")
    danger = True

    channel = channel_field()

    def summary(self) -> list[Line]:
        assert self.account is not None  # noqa: S101
        wallet = operations.accounts.balance(self.account)
        settle = (
            _("refund %(amount)s to the tenant")
            if wallet.amount > 0
            else _("collect %(amount)s from the tenant")
            if wallet.amount < 0
            else _("nothing to settle (%(amount)s)")
        ) % {"amount": Money(abs(wallet.amount), wallet.currency)}
        return [
            (_("Tenant"), self.account.tenant),
            (_("Prepaid balance"), wallet),
            (_("Final settlement"), settle),
            (_("Paid by"), Channel(self.cleaned_data["channel"]).label),
            (_("Metering points"), _("released for the next tenant")),
        ]

    def perform(self, actor: Any) -> str:
        assert self.account is not None  # noqa: S101
        operations.accounts.close_account(
            self.account, actor, self.cleaned_data["reason"], self.cleaned_data["channel"]
        )
        return _point_url(self)
