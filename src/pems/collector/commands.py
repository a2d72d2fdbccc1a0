"""Executing queued commands exactly once: mark sent, send, read back, then decide.

A command is committed as *sent* before its frame goes on the bus. Whatever
happens next — a lost reply, a timeout, a crash — the outcome is settled by
reading the meter back (purchase count, relay/forced state) before anything
is sent again; a credit push is resent only when the meter's count shows it
did not arrive, and the meter's own count guard refuses a duplicate anyway.

A credit clear (a recall) goes out only to a meter whose relay is open; the
credit it held is read just before and committed on the command before the
frame leaves, so a lost reply or a crash never loses it. Confirmed (credit 0,
relay open), it hands that credit back to the account in the same transaction
(``pems.billing.recall``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import close_old_connections, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from pems.accounts.locking import lock_account
from pems.billing import credit, recall
from pems.collector.plan import Target
from pems.control.models import (
    CREDIT_BEFORE_CLEAR,
    Command,
    CommandKind,
    CommandStatus,
    FailureKind,
    failure_columns,
)
from pems.devices.errors import (
    PurchaseReason,
    PurchaseRejected,
    RetryableDeviceError,
    TerminalDeviceError,
)
from pems.devices.records import ForcedMode, MeterDriver, MeterState, Prices
from pems.devices.security import KeyConfigError, MasterKey, purchase_mac
from pems.domain.messages import Message, gettext_noop

RELAY_KINDS = frozenset(
    {
        CommandKind.TRIP,
        CommandKind.CLOSE,
        CommandKind.KEEP_POWER_ON,
        CommandKind.KEEP_POWER_OFF,
        CommandKind.RESUME_PREPAID,
    }
)
#: Kinds judged by reading the meter back; settings are confirmed on acknowledgement.
READ_BACK_KINDS = RELAY_KINDS | {CommandKind.PUSH_CREDIT, CommandKind.CLEAR_CREDIT}
#: How long a cleared meter's credit waits when billing refused to take it back.
RETURN_RETRY_SECONDS = 60.0
_OPEN = [CommandStatus.PENDING, CommandStatus.SENT]

#: Why a command failed or waits: words to translate where a person reads them, or text.
Reason = str | Message

_GAVE_UP = gettext_noop("gave up after %(attempts)s attempts")
_COUNT_NOT_ALLOWED = gettext_noop("meter purchase count %(meter)s does not allow count %(count)s")
_PUSH_NOT_RETURNED = gettext_noop("failed, credit not yet returned: %(error)s")
_CLEAR_NOT_RETURNED = gettext_noop("credit cleared, not yet returned: %(error)s")
_RELAY_NOT_OPEN = gettext_noop(
    "relay not open: the meter could still spend; trip it before clearing"
)
_NO_CREDIT_READ = gettext_noop("the meter reports no remaining credit")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandTask:
    """An open command as a worker sees it."""

    pk: int
    command_id: str
    gateway_id: int
    point_id: int
    kind: str
    payload: dict[str, Any]
    purchase_count: int | None
    status: str
    attempts: int
    created_at: datetime


class Verdict(enum.Enum):
    """What reading the meter back says about a command."""

    APPLIED = "applied"
    NOT_APPLIED = "not_applied"
    IMPOSSIBLE = "impossible"


# -- database side (runs in the command thread) ----------------------------------


def fetch_open(gateway_ids: set[int], busy: set[int]) -> list[CommandTask]:
    """The oldest open, due command of each point on these gateways (not already in hand)."""
    close_old_connections()
    now = timezone.now()
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    open_ = Command.objects.filter(
        status__in=[CommandStatus.PENDING, CommandStatus.SENT],
        meter__gateway_id__in=gateway_ids,
    )
    # One command per point at a time, oldest first: pushes must land in count order.
    heads = open_.values("point_id").annotate(first=Min("id")).values_list("first", flat=True)
    rows = (
        Command.objects.filter(pk__in=list(heads))
        .filter(due)
        .exclude(pk__in=busy)
        .annotate(gateway_id=F("meter__gateway_id"))
        .order_by("id")
    )
    return [
        CommandTask(
            pk=c.pk,
            command_id=str(c.command_id),
            gateway_id=c.gateway_id,  # type: ignore[attr-defined]
            point_id=c.point_id,
            kind=c.kind,
            payload=dict(c.payload),
            purchase_count=c.purchase_count,
            status=c.status,
            attempts=c.attempts,
            created_at=c.created_at,
        )
        for c in rows
    ]


def mark_sent(pk: int) -> bool:
    """Commit *sent* (and one more attempt) before the frame leaves.

    False when the command was finished meanwhile — a cashier's reversal
    cancels a still-pending credit push — and must not be sent.
    """
    close_old_connections()
    with transaction.atomic():
        return bool(
            Command.objects.filter(
                pk=pk, status__in=[CommandStatus.PENDING, CommandStatus.SENT]
            ).update(status=CommandStatus.SENT, attempts=F("attempts") + 1, sent_at=timezone.now())
        )


def finish(
    pk: int, status: str, answer: dict[str, str], kind: str = "", reason: Reason = ""
) -> None:
    """Confirm or fail an open command (a finished one is never touched again).

    A credit push that fails gives its credit back to the wallet in the same
    transaction (it never reached the meter). A credit clear keeps the credit
    held before it in its answer; confirmed, it gives that back to its account
    in the same transaction. If billing refuses, the command stays open with
    the refusal as its reason and is read back later.
    """
    close_old_connections()
    command = Command.objects.filter(pk=pk).first()
    if (
        command is not None
        and command.kind == CommandKind.PUSH_CREDIT
        and status == CommandStatus.FAILED
    ):
        try:
            with transaction.atomic():
                _fail_push(command, answer, kind, reason)
        except (*recall.RETURN_REFUSALS, ValueError) as exc:  # stays open: tried again later
            log.error("credit push %s failed but its credit was not returned: %s", pk, exc)
            defer(pk, RETURN_RETRY_SECONDS, Message.of(_PUSH_NOT_RETURNED, error=str(exc)))
        return
    if command is None or command.kind != CommandKind.CLEAR_CREDIT:
        _close(pk, status, answer, kind, reason)
        return
    held = command.answer.get(CREDIT_BEFORE_CLEAR)
    if held is None and status == CommandStatus.CONFIRMED:
        held = answer["remaining_credit"]  # never sent: the meter held what it shows
    if held is not None:
        answer = {**answer, CREDIT_BEFORE_CLEAR: held}
    try:
        with transaction.atomic():
            _finish_clear(command, status, answer, kind, reason)
    except recall.RETURN_REFUSALS as exc:
        log.warning("credit cleared by command %s but not returned: %s", pk, exc)
        defer(pk, RETURN_RETRY_SECONDS, Message.of(_CLEAR_NOT_RETURNED, error=str(exc)))


def _finish_clear(
    command: Command, status: str, answer: dict[str, str], kind: str, reason: Reason
) -> None:
    # The account row first, as every money action; then the command row, still open.
    locked = recall.lock_recalling(command) if status == CommandStatus.CONFIRMED else None
    if not Command.objects.select_for_update().filter(pk=command.pk, status__in=_OPEN).exists():
        return  # finished meanwhile: booked then, never twice
    if locked is not None:
        command = Command.objects.select_related("point").get(pk=command.pk)
        held = Decimal(answer[CREDIT_BEFORE_CLEAR])
        answer = {**answer, **recall.credit_cleared(locked, command, held)}
    _close(command.pk, status, answer, kind, reason)


def _fail_push(push: Command, answer: dict[str, str], kind: str, reason: Reason) -> None:
    """Fail a credit push and give its credit back to the wallet, in one transaction."""
    account_id = credit.paying_account_id(push)
    # The account row first, as every money action; then the command row, still open.
    locked = lock_account(account_id) if account_id is not None else None
    if not Command.objects.select_for_update().filter(pk=push.pk, status__in=_OPEN).exists():
        return  # finished meanwhile: returned then, never twice
    _close(push.pk, CommandStatus.FAILED, answer, kind, reason)
    if locked is None:  # not a sale's or an exchange's: nothing of a tenant's to give back
        log.error("credit push %s failed; no sale or exchange names its account", push.pk)
        return
    credit.return_failed_push(locked, push, "collector", str(reason))


def _close(pk: int, status: str, answer: dict[str, str], kind: str, reason: Reason) -> bool:
    return bool(
        Command.objects.filter(pk=pk, status__in=_OPEN).update(
            status=status,
            answer=answer,
            failure_kind=kind,
            **failure_columns(reason),
            completed_at=timezone.now(),
        )
    )


def hold_credit_before_clear(pk: int, held: Decimal) -> None:
    """Commit what the meter holds just before its clear goes out (the relay is open).

    A zero never replaces a stored value: that is an earlier clear that landed.
    """
    close_old_connections()
    with transaction.atomic():
        command = Command.objects.select_for_update().filter(pk=pk, status__in=_OPEN).first()
        if command is None or (held == 0 and CREDIT_BEFORE_CLEAR in command.answer):
            return
        answer = {**command.answer, CREDIT_BEFORE_CLEAR: str(held)}
        Command.objects.filter(pk=pk).update(answer=answer)


def defer(pk: int, seconds: float, reason: Reason) -> None:
    """Try (or reconcile) again later; the status stays as it is (a finished one is left alone)."""
    close_old_connections()
    Command.objects.filter(pk=pk, status__in=[CommandStatus.PENDING, CommandStatus.SENT]).update(
        not_before=timezone.now() + timedelta(seconds=seconds),
        failure_kind=FailureKind.RETRYABLE,
        **failure_columns(reason),
    )


# -- bus side ---------------------------------------------------------------------

Db = Callable[..., Awaitable[Any]]


class CommandRunner:
    """Runs one command against one driver; database calls go through ``db``."""

    def __init__(self, db: Db, max_attempts: int, retry_seconds: float) -> None:
        self._db = db
        self._max_attempts = max_attempts
        self._retry_seconds = retry_seconds
        self._master_key: MasterKey | None = None

    async def execute(
        self, task: CommandTask, target: Target, driver: MeterDriver
    ) -> MeterState | None:
        """Settle ``task``; returns the state read back, if any (the caller stores it)."""
        state: MeterState | None = None
        try:
            if task.status == CommandStatus.SENT:
                verdict, state = await _check(task, driver, acked=False)
                if await self._settle(task, verdict, state, "reconciled by read-back"):
                    return state
            if task.attempts >= self._max_attempts:
                gave_up = Message.of(_GAVE_UP, attempts=task.attempts)
                await self._db(
                    finish, task.pk, CommandStatus.FAILED, {}, FailureKind.RETRYABLE, gave_up
                )
                return state
            if not await self._db(mark_sent, task.pk):
                return state  # cancelled since it was fetched: nothing goes out
            acked = await self._send(task, target, driver)
            if acked is None:
                return state
            verdict, state = await _check(task, driver, acked=acked)
            await self._settle(task, verdict, state, "confirmed by read-back")
        except RetryableDeviceError as exc:
            await self._db(defer, task.pk, self._retry_seconds * (task.attempts + 1), exc.message)
        return state

    async def _send(self, task: CommandTask, target: Target, driver: MeterDriver) -> bool | None:
        """True when the meter acknowledged, False when unknown, None when settled here."""
        try:
            if task.kind == CommandKind.CLEAR_CREDIT:
                await self._hold_credit(task, target, driver)
            await _dispatch(task, target, driver, self._mac)
        except PurchaseRejected as exc:
            count = exc.meter_count
            answer = {"purchase_count": str(count), "note": f"meter refused: {exc.reason.value}"}
            wanted = task.purchase_count
            if (
                exc.reason is PurchaseReason.DUPLICATE
                and task.attempts > 0
                and count is not None
                and wanted is not None
                and count >= wanted
            ):
                # An earlier attempt of this command landed (its reply was lost). On a
                # first attempt a duplicate means the count was used elsewhere: a failure.
                await self._db(finish, task.pk, CommandStatus.CONFIRMED, answer)
            else:
                await self._db(
                    finish, task.pk, CommandStatus.FAILED, answer, FailureKind.TERMINAL, exc.message
                )
            return None
        except (TerminalDeviceError, KeyConfigError, ValueError) as exc:
            why = exc.message if isinstance(exc, TerminalDeviceError) else str(exc)
            await self._db(finish, task.pk, CommandStatus.FAILED, {}, FailureKind.TERMINAL, why)
            return None
        except RetryableDeviceError:
            return False  # the outcome is unknown: read back before anything else
        return True

    async def _settle(
        self, task: CommandTask, verdict: Verdict, state: MeterState | None, note: str
    ) -> bool:
        """Finish the command when the read-back decides it; False means send (again)."""
        answer = _answer(state, note)
        if verdict is Verdict.APPLIED:
            await self._db(finish, task.pk, CommandStatus.CONFIRMED, answer)
            return True
        if verdict is Verdict.IMPOSSIBLE:
            reason = Message.of(
                _COUNT_NOT_ALLOWED,
                meter=str(answer.get("purchase_count")),
                count=str(task.purchase_count),
            )
            await self._db(
                finish, task.pk, CommandStatus.FAILED, answer, FailureKind.TERMINAL, reason
            )
            return True
        return False

    async def _hold_credit(self, task: CommandTask, target: Target, driver: MeterDriver) -> None:
        """Read the credit just before a clear and commit it; refused unless the relay is open."""
        state = await driver.read_state()
        where = target.driver_address
        if state.relay_closed is not False:
            raise TerminalDeviceError(Message(_RELAY_NOT_OPEN), address=where)
        if state.remaining_credit is None:
            raise TerminalDeviceError(Message(_NO_CREDIT_READ), address=where)
        await self._db(hold_credit_before_clear, task.pk, state.remaining_credit)

    def _mac(self, target: Target, amount_minor: int, count: int) -> bytes:
        if self._master_key is None:
            self._master_key = MasterKey.from_env()
        key = self._master_key.meter_key(target.meter_number, target.key_version)
        return purchase_mac(key, 0, count, amount_minor)


async def _dispatch(
    task: CommandTask,
    target: Target,
    driver: MeterDriver,
    mac: Callable[[Target, int, int], bytes],
) -> None:
    """Send the command's frame(s)."""
    payload, kind = task.payload, task.kind
    if kind == CommandKind.TRIP:
        await driver.trip()
    elif kind == CommandKind.CLOSE:
        await driver.close()
    elif kind in (CommandKind.KEEP_POWER_ON, CommandKind.KEEP_POWER_OFF):
        await driver.keep_power(kind == CommandKind.KEEP_POWER_ON)
    elif kind == CommandKind.RESUME_PREPAID:
        await driver.resume_prepaid()
    elif kind == CommandKind.PUSH_CREDIT:
        minor = Decimal(payload["amount"]).scaleb(2)
        if minor != minor.to_integral_value() or task.purchase_count is None:
            raise ValueError(f"amount {payload['amount']} is not a whole number of cents")
        count = task.purchase_count
        await driver.push_credit(int(minor), count, mac(target, int(minor), count))
    elif kind == CommandKind.CLEAR_CREDIT:
        await driver.clear_credit()
    elif kind == CommandKind.SET_PRICES:
        await driver.set_prices(
            Prices(*(Decimal(payload[k]) for k in ("sharp", "peak", "flat", "valley")))
        )
    elif kind == CommandKind.SET_ALARMS:
        overdraft = payload.get("overdraft")
        await driver.set_alarm_thresholds(
            Decimal(payload["alarm1"]),
            Decimal(payload["alarm2"]),
            Decimal(overdraft) if overdraft is not None else None,
        )
    elif kind == CommandKind.TIME_SYNC:
        await driver.sync_clock(timezone.now())
    else:
        raise ValueError(f"unknown command kind {kind!r}")


async def _check(
    task: CommandTask, driver: MeterDriver, *, acked: bool
) -> tuple[Verdict, MeterState | None]:
    """Read the meter back and judge the command against what it shows."""
    if task.kind not in READ_BACK_KINDS:
        # Absolute settings: an acknowledged write is applied; resending one is harmless.
        return (Verdict.APPLIED if acked else Verdict.NOT_APPLIED), None
    state = await driver.read_state()
    read_control = getattr(driver, "read_control", None)
    forced: ForcedMode | None = state.forced
    if task.kind in RELAY_KINDS and forced is None and read_control is not None:
        forced = await read_control()
    return judge(task, state, forced, acked=acked), state


def judge(
    task: CommandTask, state: MeterState, forced: ForcedMode | None, *, acked: bool
) -> Verdict:
    """The verdict for ``task`` given what the meter shows (pure)."""
    kind, relay = task.kind, state.relay_closed
    if kind == CommandKind.PUSH_CREDIT:
        count, wanted = state.purchase_count, task.purchase_count or 0
        if count is None or count < wanted - 1:
            return Verdict.IMPOSSIBLE
        return Verdict.APPLIED if count >= wanted else Verdict.NOT_APPLIED
    if kind == CommandKind.CLEAR_CREDIT:
        ok = state.remaining_credit == 0 and relay is False
    elif kind == CommandKind.TRIP:
        ok = relay is False and forced in (None, ForcedMode.FORCED_TRIP)
    elif kind == CommandKind.KEEP_POWER_ON:
        ok = forced is ForcedMode.KEEP_POWER if forced is not None else relay is True
    elif forced is not None:
        ok = forced is ForcedMode.PREPAID
    elif kind == CommandKind.CLOSE:
        ok = relay is True
    else:  # the meter cannot show who holds the relay: trust its acknowledgement
        ok = acked
    return Verdict.APPLIED if ok else Verdict.NOT_APPLIED


def _answer(state: MeterState | None, note: str) -> dict[str, str]:
    if state is None:
        return {"note": note}
    return {
        "note": note,
        "purchase_count": str(state.purchase_count),
        "relay_closed": str(state.relay_closed),
        "remaining_credit": str(state.remaining_credit),
    }
