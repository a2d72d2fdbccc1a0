"""The chart of accounts: find or open the ledger account for a purpose, by key.

Each purpose has two forms. ``wallet(account)`` returns the stored row (with
its balance), opening it on first use: one query. ``wallet_ref(account)``
returns an unsaved stand-in that names the row by key and says how to open
it; :func:`pems.ledger.posting.post` resolves all the stand-ins of an entry
in the statement that locks them, so hot paths (a cashier's sale) pay no
look-up per account. Keys, and the columns a stand-in sets, never change once
a row exists, and rows are never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import IntegrityError, transaction

from pems.accounts.models import Account
from pems.inventory.models import MeteringPoint, Site
from pems.ledger.models import Channel, LedgerAccount

Kind = LedgerAccount.Kind


def opened(ref: LedgerAccount) -> LedgerAccount:
    """The stored row ``ref`` names, opened now if this is its first use."""
    found = LedgerAccount.objects.filter(key=ref.key).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(
                key=ref.key,
                kind=ref.kind,
                site_id=ref.site_id,
                currency=ref.currency,
                account_id=ref.account_id,
                metering_point_id=ref.metering_point_id,
            )
    except IntegrityError:  # opened concurrently: use that one
        return LedgerAccount.objects.get(key=ref.key)


def balances(*refs: LedgerAccount) -> list[Decimal]:
    """The balances of the rows ``refs`` name, in one read; 0 for one not opened yet."""
    found = dict(
        LedgerAccount.objects.filter(key__in=[r.key for r in refs]).values_list("key", "balance")
    )
    return [found.get(r.key, Decimal(0)) for r in refs]


def open_all(refs: Sequence[LedgerAccount]) -> None:
    """Open, in one statement, whichever of ``refs`` are not stored yet (a batch's first use)."""
    rows = [
        LedgerAccount(
            key=ref.key,
            kind=ref.kind,
            site_id=ref.site_id,
            currency=ref.currency,
            account_id=ref.account_id,
            metering_point_id=ref.metering_point_id,
        )
        for ref in refs
    ]
    LedgerAccount.objects.bulk_create(rows, ignore_conflicts=True)  # opened concurrently: fine


def _ref(key: str, kind: str, site: Site, **links: object) -> LedgerAccount:
    return LedgerAccount(key=key, kind=kind, site=site, currency=site.currency, **links)


def wallet_ref(account: Account) -> LedgerAccount:
    return _ref(f"wallet:{account.pk}", Kind.WALLET, account.tenant.site, account=account)


def wallet(account: Account) -> LedgerAccount:
    """The tenant account's prepaid balance."""
    return opened(wallet_ref(account))


def meter_credit_ref(account: Account, point: MeteringPoint) -> LedgerAccount:
    return _ref(
        f"meter-credit:{account.pk}:{point.pk}",
        Kind.METER_CREDIT,
        account.tenant.site,
        account=account,
        metering_point=point,
    )


def meter_credit(account: Account, point: MeteringPoint) -> LedgerAccount:
    """Credit the account has sent to a meter-side metering point and the meter still holds."""
    return opened(meter_credit_ref(account, point))


def clearing_ref(site: Site, channel: str) -> LedgerAccount:
    Channel(channel)  # refuse unknown channels before opening an account for them
    return _ref(f"clearing:{site.pk}:{channel}", Kind.CLEARING, site)


def clearing(site: Site, channel: str) -> LedgerAccount:
    """Money received (negative balance) or paid out through one channel."""
    return opened(clearing_ref(site, channel))


def revenue_ref(site: Site, utility: str) -> LedgerAccount:
    return _ref(f"revenue:{site.pk}:{utility}", Kind.REVENUE, site)


def revenue(site: Site, utility: str) -> LedgerAccount:
    return opened(revenue_ref(site, utility))


def service_fees_ref(site: Site) -> LedgerAccount:
    return _ref(f"service-fee:{site.pk}", Kind.SERVICE_FEE, site)


def service_fees(site: Site) -> LedgerAccount:
    return opened(service_fees_ref(site))


def fixed_charges(site: Site) -> LedgerAccount:
    return opened(_ref(f"fixed-charge:{site.pk}", Kind.FIXED_CHARGE, site))


def taken_over_ref(site: Site) -> LedgerAccount:
    return _ref(f"taken-over:{site.pk}", Kind.TAKEN_OVER, site)


def taken_over(site: Site) -> LedgerAccount:
    """Credit found on meters when PEMS took them over (negative: what tenants had bought)."""
    return opened(taken_over_ref(site))
