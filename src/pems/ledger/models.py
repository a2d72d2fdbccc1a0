"""Ledger accounts, journal entries and postings.

Amounts are credit-positive (see ``pems.domain.ledger``): a wallet's balance
is the sum of its postings. ``LedgerAccount.balance`` caches that sum; it is
changed only by :func:`pems.ledger.posting.post`, in the transaction that
inserts the postings, and ``pems.ledger.verify`` re-proves it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pems.core.models import AppendOnlyModel, money_field
from pems.inventory.models import MeteringPoint, Site


class Channel(models.TextChoices):
    """How money arrives or leaves: each has its own clearing account per site."""

    CASH = "cash", _("Cash")
    CARD = "card", _("Bank card")
    TRANSFER = "transfer", _("Bank transfer")
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    UNIONPAY = "unionpay", _("UnionPay")


class LedgerAccount(models.Model):
    """One account of the chart, identified by a stable ``key``.

    Keys: ``wallet:<account>``, ``meter-credit:<account>:<point>``,
    ``clearing:<site>:<channel>``, ``revenue:<site>:<utility>``,
    ``service-fee:<site>``, ``fixed-charge:<site>``, ``taken-over:<site>``.
    """

    class Kind(models.TextChoices):
        WALLET = "wallet", _("Tenant prepaid balance")
        METER_CREDIT = "meter-credit", _("Credit held by a meter")
        CLEARING = "clearing", _("Payment channel clearing")
        REVENUE = "revenue", _("Energy revenue")
        SERVICE_FEE = "service-fee", _("Service fees")
        FIXED_CHARGE = "fixed-charge", _("Fixed charges")
        #: Credit tenants bought before PEMS (the previous system's sales), found on meters.
        TAKEN_OVER = "taken-over", _("Credit taken over from a previous system")

    key = models.CharField(_("key"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="ledger_accounts", verbose_name=_("site")
    )
    currency = models.CharField(_("currency"), max_length=3)
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
        verbose_name=_("tenant account"),
    )
    metering_point = models.ForeignKey(
        MeteringPoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
        verbose_name=_("metering point"),
    )
    balance = money_field(_("balance"), default=Decimal("0.00"), editable=False)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="wallet") | Q(account__isnull=False),
                name="ledger_wallet_has_account",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class JournalEntry(AppendOnlyModel):
    """One balanced business event: a recharge, a refund, a settlement …

    Never updated or deleted. A mistake is corrected by a new entry that
    ``reverses`` it; an entry can be reversed once.
    """

    correction = "post a reversal instead"

    class Kind(models.TextChoices):
        RECHARGE = "recharge", _("Recharge")
        REFUND = "refund", _("Refund")
        REVERSAL = "reversal", _("Reversal")
        SETTLEMENT = "settlement", _("Consumption settlement")
        FIXED_CHARGE = "fixed-charge", _("Fixed charge")
        METER_TRANSFER = "meter-transfer", _("Credit sent to a meter")
        METER_USAGE = "meter-usage", _("Consumption measured by a meter")
        METER_RETURN = "meter-return", _("Credit returned from a meter")
        METER_TAKEOVER = "meter-takeover", _("Credit on a meter taken over")
        CLOSING = "closing", _("Closing settlement")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="journal_entries",
        verbose_name=_("tenant account"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(_("by"), max_length=150)
    reason = models.TextField(_("reason"), blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=120, null=True, blank=True, unique=True
    )
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        verbose_name=_("reverses"),
    )
    memo = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"


class Posting(AppendOnlyModel):
    """One line of a journal entry: a non-zero, credit-positive amount to one account."""

    correction = "post a reversal instead"

    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="postings", verbose_name=_("entry")
    )
    ledger_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="postings", verbose_name=_("account")
    )
    amount = money_field(_("amount"))

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="posting_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.ledger_account_id} {self.amount}"
