"""Commands to meters: a durable queue the collector executes exactly once.

A command moves ``pending → sent → confirmed | failed``. It is marked *sent*
(and committed) before its frame goes on the bus, so after a crash a *sent*
command is reconciled by reading the meter back, never resent blindly. A
credit push carries the purchase count the meter must accept; the database
refuses two pushes with the same count for one meter. A credit clear (a
recall of what a meter-side meter holds) names the account the credit goes
back to; the database allows one open clear per point.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from pems.domain.messages import Message, restored, stored
from pems.inventory.models import Meter, MeteringPoint


class CommandKind(models.TextChoices):
    TRIP = "trip", _("Trip")
    CLOSE = "close", _("Close")
    KEEP_POWER_ON = "keep_power_on", _("Keep power on")
    KEEP_POWER_OFF = "keep_power_off", _("Keep power off")
    RESUME_PREPAID = "resume_prepaid", _("Resume prepaid control")
    PUSH_CREDIT = "push_credit", _("Push credit")
    CLEAR_CREDIT = "clear_credit", _("Clear meter credit")
    SET_PRICES = "set_prices", _("Set prices")
    SET_ALARMS = "set_alarms", _("Set alarm thresholds")
    TIME_SYNC = "time_sync", _("Synchronise clock")


class CommandStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    CONFIRMED = "confirmed", _("Confirmed")
    FAILED = "failed", _("Failed")


class FailureKind(models.TextChoices):
    NONE = "", _("None")
    RETRYABLE = "retryable", _("Retryable")
    TERMINAL = "terminal", _("Terminal")


#: Payload keys each kind needs; amounts are decimal strings, never floats.
PAYLOAD_KEYS: dict[str, tuple[str, ...]] = {
    CommandKind.PUSH_CREDIT: ("amount",),
    CommandKind.SET_PRICES: ("sharp", "peak", "flat", "valley"),
    CommandKind.SET_ALARMS: ("alarm1", "alarm2"),
}

#: Payload keys each kind needs that name a row by its id (a positive integer): a
#: credit clear names the account its credit goes back to.
PAYLOAD_IDS: dict[str, tuple[str, ...]] = {
    CommandKind.CLEAR_CREDIT: ("account",),
}

#: The answer key of a credit clear: what the meter held just before it, read after
#: the trip (a decimal string). The collector stores it before the clear goes out.
CREDIT_BEFORE_CLEAR = "credit_before_clear"

#: What a person reads for each payload key (a key not listed shows as it is).
PAYLOAD_LABELS = {
    "amount": _("amount"),
    "account": _("account"),
    "sharp": pgettext_lazy("TOU rate", "sharp"),
    "peak": pgettext_lazy("TOU rate", "peak"),
    "flat": pgettext_lazy("TOU rate", "flat"),
    "valley": pgettext_lazy("TOU rate", "valley"),
    "alarm1": _("alarm 1"),
    "alarm2": _("alarm 2"),
}


#: How much of a failure's English text a command keeps.
FAILURE_REASON_LENGTH = 200


def failure_columns(reason: str | Message) -> dict[str, Any]:
    """A command's columns for why it failed or waits: the English text, and the words to
    translate where a person reads them (:attr:`Command.failure_text`; none for plain text)."""
    words = stored(reason) if isinstance(reason, Message) else {}
    return {"failure_reason": str(reason)[:FAILURE_REASON_LENGTH], "failure_words": words}


class Command(models.Model):
    """One command to one metering point, executed by the collector exactly once."""

    command_id = models.UUIDField(_("command id"), default=uuid.uuid4, unique=True, editable=False)
    point = models.ForeignKey(
        MeteringPoint,
        on_delete=models.PROTECT,
        related_name="commands",
        verbose_name=_("metering point"),
    )
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="commands", verbose_name=_("meter")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=CommandKind)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    purchase_count = models.PositiveIntegerField(_("purchase count"), null=True, blank=True)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=100, null=True, blank=True, unique=True
    )
    status = models.CharField(
        _("status"), max_length=12, choices=CommandStatus, default=CommandStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(pgettext_lazy("timestamp", "created"), auto_now_add=True)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    answer = models.JSONField(_("meter's answer"), default=dict, blank=True)
    failure_kind = models.CharField(
        _("failure kind"), max_length=12, choices=FailureKind, default=FailureKind.NONE, blank=True
    )
    failure_reason = models.CharField(
        _("failure reason"), max_length=FAILURE_REASON_LENGTH, blank=True
    )
    #: The reason as words to translate where a person reads it (``domain.messages.stored``);
    #: empty when it was recorded as text only.
    failure_words = models.JSONField(
        _("failure reason, in words to translate"), default=dict, blank=True
    )
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True)
    #: Queued by the prepaid policy, not asked for by a person: a person's trip
    #: holds until a person closes, keeps power or resumes prepaid control.
    by_policy = models.BooleanField(_("queued by the prepaid policy"), default=False)

    class Meta:
        verbose_name = _("command")
        verbose_name_plural = _("commands")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "meter"], name="command_status_meter")]
        constraints = [
            # A metering point holds the purchase count (an ADF300 circuit counts its
            # own); a push that failed for good frees its count for the next one.
            models.UniqueConstraint(
                fields=["meter", "point", "purchase_count"],
                condition=Q(kind=CommandKind.PUSH_CREDIT) & ~Q(status=CommandStatus.FAILED),
                name="command_unique_purchase_count",
                violation_error_message=_("This meter already has a push with this count."),
            ),
            models.CheckConstraint(
                condition=~Q(kind=CommandKind.PUSH_CREDIT) | Q(purchase_count__gte=1),
                name="command_push_has_count",
                violation_error_message=_("A credit push needs a purchase count of 1 or more."),
            ),
            # A recall is one clear at a time: a second one would read a cleared meter.
            models.UniqueConstraint(
                fields=["point"],
                condition=Q(kind=CommandKind.CLEAR_CREDIT)
                & Q(status__in=[CommandStatus.PENDING, CommandStatus.SENT]),
                name="command_one_open_clear_per_point",
                violation_error_message=_("This meter's credit is already being recalled."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.meter_id}/{self.point_id} ({self.status})"

    @property
    def payload_items(self) -> list[tuple[Any, Any]]:
        """The payload as (label a person reads, value) pairs, in its order."""
        return [(PAYLOAD_LABELS.get(key, key), value) for key, value in self.payload.items()]

    @property
    def failure_text(self) -> str:
        """Why it failed (or waits), in the reader's language when its words were kept."""
        if self.failure_words:
            try:
                return restored(self.failure_words).text(gettext)
            except (ValueError, TypeError, KeyError):  # words a newer PEMS kept: as recorded
                pass
        return self.failure_reason

    @property
    def is_open(self) -> bool:
        """True until the command is confirmed or failed."""
        return self.status in (CommandStatus.PENDING, CommandStatus.SENT)

    def clean(self) -> None:
        super().clean()
        if self.point_id and self.meter_id and self.point.meter_id != self.meter_id:
            raise ValidationError({"meter": _("The metering point is on another meter.")})
        errors = payload_errors(self.kind, self.payload)
        if errors:
            raise ValidationError({"payload": errors})


def payload_errors(kind: str, payload: object) -> list[str]:
    """What is wrong with ``payload`` for a command of ``kind`` (empty when fine)."""
    if not isinstance(payload, dict):
        return [str(_("The payload must be an object."))]
    errors = []
    for key in PAYLOAD_IDS.get(kind, ()):
        value = payload.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(f"{key}: " + str(_("an id (a positive whole number) is required")))
    for key in PAYLOAD_KEYS.get(kind, ()):
        value = payload.get(key)
        if not isinstance(value, str):
            errors.append(f"{key}: " + str(_("a decimal amount as a string is required")))
            continue
        try:
            amount = Decimal(value)
        except InvalidOperation:
            errors.append(f"{key}: " + str(_("not a decimal number")))
            continue
        if (
            not amount.is_finite()
            or amount < 0
            or (kind == CommandKind.PUSH_CREDIT and amount == 0)
        ):
            errors.append(f"{key}: " + str(_("must be a positive amount")))
    return errors
