"""Account lifecycle actions: the only way accounts and their money change.

Views, the admin, the API and payment callbacks call these. Each runs in one
database transaction, posts balanced ledger entries and writes its audit
event in the same transaction. Money arrives as ``Money``, never a float.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pems.accounts import locking
from pems.accounts.models import Account, AccountMeteringPoint, Tenant
from pems.audit.log import diff, record, snapshot
from pems.domain.fees import split_top_up
from pems.domain.money import Money
from pems.inventory.models import MeteringPoint, Site
from pems.ledger import chart
from pems.ledger.models import JournalEntry, LedgerAccount
from pems.ledger.posting import LedgerError, Posted, mirror, post

#: Entries a person may reverse (冲正); settlements are corrected by re-settling.
REVERSIBLE = {JournalEntry.Kind.RECHARGE, JournalEntry.Kind.REFUND}


class AccountActionError(Exception):
    """An account action was refused; the message says why. Nothing was written."""


class AccountClosed(AccountActionError):
    """The account is closed."""


@dataclass(frozen=True)
class Recharge:
    """A recharge as posted: the entry, whether this call created it, and the split.

    ``balance`` is the wallet right after the entry, in its transaction (None for a replay).
    """

    entry: JournalEntry
    created: bool
    credited: Money
    fee: Money
    balance: Money | None


def balance(account: Account) -> Money:
    """The tenant's prepaid balance: the sum of the wallet's postings."""
    wallet = chart.wallet(account)
    return Money(wallet.balance, wallet.currency)


def lock_open(account: Account) -> Account:
    """Lock the account row for this transaction (the top of the lock order); refused if closed.

    Returns the row as locked, with its tenant and site. Only the account row is
    locked: locking the site's row too would queue every sale of a site.
    """
    return check_open(locking.lock_account(account.pk))


def check_open(locked: Account) -> Account:
    """Refuse a closed account (read under its lock); the account otherwise."""
    if not locked.is_open:
        raise AccountClosed(_("Account %(account)s is closed.") % {"account": locked.pk})
    return locked


def check_amount(account: Account, amount: Money) -> None:
    """Refuse an amount that is not positive or not in the account's site currency."""
    currency = account.tenant.site.currency
    if amount.currency != currency:
        raise AccountActionError(
            _("Amount %(amount)s is not in the site's currency %(currency)s.")
            % {"amount": amount, "currency": currency}
        )
    if amount.amount <= 0:
        raise AccountActionError(_("Amount must be positive, got %(amount)s.") % {"amount": amount})


@transaction.atomic
def create_tenant(
    site_id: int,
    name: str,
    actor: Any,
    reason: str,
    *,
    mobile: str = "",
    contact_name: str = "",
    email: str = "",
    room_id: int | None = None,
) -> Tenant:
    """Add a tenant (validated as the model does) and audit it."""
    tenant = Tenant(
        site_id=site_id,
        name=name,
        mobile=mobile,
        contact_name=contact_name,
        email=email,
        room_id=room_id,
    )
    tenant.full_clean()
    tenant.save()
    record(actor, "tenant.create", tenant, snapshot(tenant), reason)
    return tenant


@transaction.atomic
def open_account(
    tenant: Tenant,
    metering_points: Sequence[MeteringPoint],
    actor: Any,
    reason: str = "",
    first_purchase: Money | None = None,
    channel: str = "cash",
    idempotency_key: str | None = None,
    **thresholds: Decimal | bool | None,
) -> Account:
    """Open an account on metering points, optionally with a first purchase."""
    if not metering_points:
        raise AccountActionError(_("An account needs at least one metering point."))
    account = Account(tenant=tenant, **thresholds)
    account.full_clean()
    account.save()
    for point in metering_points:
        link = AccountMeteringPoint(account=account, metering_point=point)
        link.full_clean()
        link.save()
    record(
        actor,
        "account.open",
        account,
        {"metering_points": [p.pk for p in metering_points], **snapshot(account)},
        reason,
    )
    if first_purchase is not None:
        recharge(account, first_purchase, channel, actor, idempotency_key or f"open:{account.pk}")
    return account


@transaction.atomic
def recharge(
    account: Account,
    amount: Money,
    channel: str,
    actor: Any,
    idempotency_key: str,
    reason: str = "",
    fee_ratio: Decimal = Decimal(0),
) -> Recharge:
    """Sell credit: money in through ``channel``, the fee to fees, the rest to the wallet.

    The same ``idempotency_key`` always yields the first recharge, never a second.
    """
    return recharge_locked(
        lock_open(account), amount, channel, actor, idempotency_key, reason, fee_ratio
    )


def recharge_key(idempotency_key: str) -> str:
    """The journal entry key of the recharge a caller names ``idempotency_key``."""
    return f"recharge:{idempotency_key}"


def recharge_locked(
    locked: Account,
    amount: Money,
    channel: str,
    actor: Any,
    idempotency_key: str,
    reason: str = "",
    fee_ratio: Decimal = Decimal(0),
) -> Recharge:
    """:func:`recharge` for a caller whose transaction holds the account (``lock_open``)."""
    check_amount(locked, amount)
    split = split_top_up(amount, fee_ratio)
    site = locked.tenant.site
    wallet = chart.wallet_ref(locked)
    lines = [(chart.clearing_ref(site, channel), -amount), (wallet, split.credited)]
    if split.fee.amount:
        lines.append((chart.service_fees_ref(site), split.fee))
    posted = post(
        site_id=site.pk,
        kind=JournalEntry.Kind.RECHARGE,
        lines=lines,
        actor=actor,
        reason=reason,
        account_id=locked.pk,
        idempotency_key=recharge_key(idempotency_key),
        memo={"channel": channel, "amount": amount.amount, "fee": split.fee.amount},
    )
    after = posted.balances.get(wallet.key)
    return Recharge(
        posted.entry,
        posted.created,
        split.credited,
        split.fee,
        None if after is None else Money(after, wallet.currency),
    )


@transaction.atomic
def refund(
    account: Account, amount: Money, channel: str, actor: Any, reason: str, idempotency_key: str
) -> Posted:
    """Pay unused credit back to the tenant; never more than the balance."""
    locked = lock_open(account)
    check_amount(locked, amount)
    wallet = chart.wallet_ref(locked)
    site = locked.tenant.site
    return post(
        site_id=site.pk,
        kind=JournalEntry.Kind.REFUND,
        lines=[(wallet, -amount), (chart.clearing_ref(site, channel), amount)],
        actor=actor,
        reason=reason,
        account_id=locked.pk,
        idempotency_key=f"refund:{idempotency_key}",
        memo={"channel": channel, "amount": amount.amount},
        floors={wallet.key: Decimal(0)},
    )


@transaction.atomic
def reverse(entry: JournalEntry, actor: Any, reason: str) -> Posted:
    """Reverse (冲正) a wrong recharge or refund with a mirror entry; at most once.

    Refused when the tenant has already spent credit the reversal would take back.
    """
    if not reason.strip():
        raise AccountActionError(_("A reversal needs a reason."))
    if entry.kind not in REVERSIBLE:
        raise AccountActionError(
            _("A %(kind)s entry cannot be reversed.") % {"kind": entry.get_kind_display()}
        )
    if entry.account_id is not None:
        lock_open(entry.account)
    lines = mirror(entry)
    wallets = {account.key for account, _ in lines if account.kind == LedgerAccount.Kind.WALLET}
    return post(
        site_id=entry.site_id,
        kind=JournalEntry.Kind.REVERSAL,
        lines=lines,
        actor=actor,
        reason=reason,
        account_id=entry.account_id,
        idempotency_key=f"reversal:{entry.pk}",
        reverses=entry,
        memo={"reverses": entry.pk},
        floors=dict.fromkeys(wallets, Decimal(0)),
    )


@transaction.atomic
def set_thresholds(
    account: Account, actor: Any, reason: str, **values: Decimal | bool | None
) -> Account:
    """Change alarm 1/2, overdraft, reconnect minimum or keep-power; audited with before/after."""
    allowed = {
        "alarm1_threshold",
        "alarm2_threshold",
        "overdraft_limit",
        "reconnect_minimum",
        "keep_power",
    }
    if unknown := set(values) - allowed:
        raise AccountActionError(
            _("Not a threshold: %(names)s.") % {"names": ", ".join(sorted(unknown))}
        )
    locked = lock_open(account)
    before = snapshot(locked)
    for name, value in values.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked.save(update_fields=[*values, "updated_at"])
    record(actor, "account.thresholds", locked, diff(before, snapshot(locked)), reason)
    return locked


#: A site's defaults (the fields :func:`set_site_thresholds` takes) → the account field
#: each stands in for when an account leaves its own empty.
SITE_DEFAULTS = {
    "default_alarm1_threshold": "alarm1_threshold",
    "default_alarm2_threshold": "alarm2_threshold",
    "default_overdraft_limit": "overdraft_limit",
    "default_reconnect_minimum": "reconnect_minimum",
}
#: How many accounts a refusal names before it says "…".
_NAMED = 5


@dataclass(frozen=True)
class SiteDefaults:
    """A site as saved by :func:`set_site_thresholds`, and which defaults changed value."""

    site: Site
    changed: frozenset[str]  # names from SITE_DEFAULTS


@transaction.atomic
def set_site_thresholds(site: Site, actor: Any, reason: str, **values: Decimal) -> SiteDefaults:
    """Change a site's default alarm 1/2, overdraft limit or reconnect minimum; audited.

    The defaults apply to every account of the site without a value of its own
    (:meth:`Account.effective_thresholds`). Validated as the model does, by field
    (alarm 1 above alarm 2, nothing negative, two decimal places), and refused
    when a new default alarm would sit on the wrong side of an alarm that an
    open account sets itself. A refusal writes nothing.
    """
    if unknown := set(values) - SITE_DEFAULTS.keys():
        raise AccountActionError(
            _("Not a site default: %(names)s.") % {"names": ", ".join(sorted(unknown))}
        )
    if not reason.strip():
        raise ValidationError({"reason": _("Say why: the reason is kept in the audit log.")})
    locked = Site.objects.select_for_update(no_key=True).get(pk=site.pk)
    before = snapshot(locked)
    for name, value in values.items():
        setattr(locked, name, value)
    locked.full_clean()
    changes = diff(before, snapshot(locked))
    _check_accounts_own_alarms(locked, changes.keys())
    locked.save(update_fields=[*values, "updated_at"])
    record(actor, "site.thresholds", locked, changes, reason)
    return SiteDefaults(locked, frozenset(changes.keys() & SITE_DEFAULTS.keys()))


def _check_accounts_own_alarms(site: Site, changed: Collection[str]) -> None:
    """Refuse new default alarms that an open account's own other alarm would cross.

    An account with only alarm 2 of its own needs the default alarm 1 above it
    (and the other way round), or its meter would warn out of order.
    """
    open_here = Account.objects.filter(tenant__site=site, status=Account.Status.OPEN)
    crossed = {
        "default_alarm1_threshold": (
            open_here.filter(
                alarm1_threshold__isnull=True,
                alarm2_threshold__gte=site.default_alarm1_threshold,
            ),
            "alarm2_threshold",
            _("Alarm 1 must stay above the alarm 2 these accounts set themselves: %(accounts)s."),
        ),
        "default_alarm2_threshold": (
            open_here.filter(
                alarm2_threshold__isnull=True,
                alarm1_threshold__lte=site.default_alarm2_threshold,
            ),
            "alarm1_threshold",
            _("Alarm 2 must stay below the alarm 1 these accounts set themselves: %(accounts)s."),
        ),
    }
    errors = {}
    for field, (accounts, own, message) in crossed.items():
        if field not in changed:
            continue
        found = list(accounts.order_by("pk").values_list("pk", "tenant__name", own)[: _NAMED + 1])
        if found:
            named = [f"{tenant} (#{pk}: {value})" for pk, tenant, value in found[:_NAMED]]
            listed = ", ".join(named) + (", …" if len(found) > _NAMED else "")
            errors[field] = message % {"accounts": listed}
    if errors:
        raise ValidationError(errors)


@dataclass(frozen=True)
class Closing:
    """A closed account and its final settlement (refunded > 0, collected > 0, or neither)."""

    account: Account
    refunded: Money
    collected: Money


@transaction.atomic
def close_account(
    account: Account,
    actor: Any,
    reason: str,
    channel: str = "cash",
    idempotency_key: str | None = None,
) -> Closing:
    """Close with a final settlement: refund what is left, or collect what is due.

    The wallet ends at exactly zero, and the metering points are released for
    the next tenant. Refused while a meter-side meter still holds credit PEMS
    sent it: the tenant's refund would miss it (``billing.recall`` brings it back).
    ``idempotency_key`` (the API's) is kept in the ``account.close`` audit event,
    so that a retried request can be told from another one.
    """
    locked = lock_open(account)
    site = locked.tenant.site
    on_meters = LedgerAccount.objects.filter(
        account=locked, kind=LedgerAccount.Kind.METER_CREDIT
    ).exclude(balance=0)
    if held := list(on_meters):
        raise AccountActionError(
            _(
                "Credit is still on the meter (%(held)s): use “Recall meter credit” first, "
                "so the refund includes it."
            )
            % {"held": ", ".join(f"{a.key}: {a.balance}" for a in held)}
        )
    wallet = LedgerAccount.objects.select_for_update(no_key=True).get(pk=chart.wallet(locked).pk)
    left = Money(wallet.balance, wallet.currency)
    zero = Money.zero(wallet.currency)
    if left.amount:
        post(
            site_id=site.pk,
            kind=JournalEntry.Kind.CLOSING,
            lines=[(wallet, -left), (chart.clearing(site, channel), left)],
            actor=actor,
            reason=reason,
            account_id=locked.pk,
            idempotency_key=f"closing:{locked.pk}",
            memo={"channel": channel, "settled": left.amount},
        )
    now = timezone.now()
    released = AccountMeteringPoint.objects.filter(account=locked, released_at__isnull=True)
    point_ids = list(released.values_list("metering_point_id", flat=True))
    released.update(released_at=now)
    Account.objects.filter(pk=locked.pk).update(
        status=Account.Status.CLOSED, closed_at=now, updated_at=now
    )
    locked.refresh_from_db()
    changes = {"status": ["open", "closed"], "released_metering_points": point_ids}
    changes |= {"settled": str(left), "channel": channel}
    if idempotency_key is not None:
        changes["idempotency_key"] = idempotency_key
    record(actor, "account.close", locked, changes, reason)
    return Closing(
        locked,
        refunded=left if left > zero else zero,
        collected=-left if left < zero else zero,
    )


__all__ = [
    "AccountActionError",
    "AccountClosed",
    "Closing",
    "LedgerError",
    "Recharge",
    "SiteDefaults",
    "balance",
    "close_account",
    "lock_open",
    "open_account",
    "recharge",
    "recharge_locked",
    "refund",
    "reverse",
    "set_site_thresholds",
    "set_thresholds",
]
