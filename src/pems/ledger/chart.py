"""The chart of accounts: find or open the ledger account for a purpose, by key."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from pems.accounts.models import Account
from pems.inventory.models import MeteringPoint, Site
from pems.ledger.models import Channel, LedgerAccount

Kind = LedgerAccount.Kind


def _get_or_open(key: str, kind: str, site: Site, **links: object) -> LedgerAccount:
    found = LedgerAccount.objects.filter(key=key).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(
                key=key, kind=kind, site=site, currency=site.currency, **links
            )
    except IntegrityError:  # opened concurrently: use that one
        return LedgerAccount.objects.get(key=key)


def wallet(account: Account) -> LedgerAccount:
    """The tenant account's prepaid balance."""
    site = account.tenant.site
    return _get_or_open(f"wallet:{account.pk}", Kind.WALLET, site, account=account)


def meter_credit(account: Account, point: MeteringPoint) -> LedgerAccount:
    """Credit the account has sent to a meter-side metering point and the meter still holds."""
    return _get_or_open(
        f"meter-credit:{account.pk}:{point.pk}",
        Kind.METER_CREDIT,
        account.tenant.site,
        account=account,
        metering_point=point,
    )


def clearing(site: Site, channel: str) -> LedgerAccount:
    """Money received (negative balance) or paid out through one channel."""
    Channel(channel)  # refuse unknown channels before opening an account for them
    return _get_or_open(f"clearing:{site.pk}:{channel}", Kind.CLEARING, site)


def revenue(site: Site, utility: str) -> LedgerAccount:
    return _get_or_open(f"revenue:{site.pk}:{utility}", Kind.REVENUE, site)


def service_fees(site: Site) -> LedgerAccount:
    return _get_or_open(f"service-fee:{site.pk}", Kind.SERVICE_FEE, site)


def fixed_charges(site: Site) -> LedgerAccount:
    return _get_or_open(f"fixed-charge:{site.pk}", Kind.FIXED_CHARGE, site)
