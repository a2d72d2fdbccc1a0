"""Named situations for ledger tests."""

from __future__ import annotations

from decimal import Decimal

from pems.accounts import actions
from pems.domain.money import Money
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.posting import post
from tests.factories import MeteringPointFactory, SiteFactory, TenantFactory


def cny(amount: str) -> Money:
    return Money(Decimal(amount), "CNY")


def open_tenant_account(site=None, **thresholds):
    site = site or SiteFactory()
    tenant = TenantFactory(site=site)
    point = MeteringPointFactory(meter__gateway__site=site)
    return actions.open_account(tenant, [point], actor="test", **thresholds)


def settlement_lines(account, amount: str):
    """Consumption charged to the wallet, earned by the site (a settlement's two lines)."""
    return [
        (chart.wallet_ref(account), -cny(amount)),
        (chart.revenue_ref(account.tenant.site, "electricity"), cny(amount)),
    ]


def consume(account, amount: str, key: str | None = None):
    """Server-side consumption charged to the wallet (what settlement will post)."""
    return post(
        site_id=account.tenant.site_id,
        kind=JournalEntry.Kind.SETTLEMENT,
        lines=settlement_lines(account, amount),
        actor="settlement",
        account_id=account.pk,
        idempotency_key=key,
    )


def tenant_in_arrears(owed: str = "30.00"):
    account = open_tenant_account()
    consume(account, owed)
    return account
