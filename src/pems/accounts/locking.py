"""The account lock every money action takes first, as one SQL statement.

Every sale, refund and settlement starts here, so the statement is written
out once (``pems.core.rows``) instead of compiled by the ORM on each call.
"""

from __future__ import annotations

from functools import cache

from django.db import connection

from pems.accounts.models import Account, Tenant
from pems.core.rows import Selection, col, quote, table
from pems.inventory.models import Site


def lock_account(pk: int, staff_id: int | None = None) -> Account:
    """The account row, locked ``FOR NO KEY UPDATE`` until commit, with its tenant and site.

    Only the account row is locked (``OF``), never the tenant or site rows
    the statement also reads. SQLite has no row locks: its IMMEDIATE
    transactions queue writers. With ``staff_id``, only an account at one of
    that staff member's sites is found (the API's scope, checked by the same
    statement). Raises ``Account.DoesNotExist``.
    """
    sql, account, tenant, site = _query(connection.vendor, staff_id is not None)
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk] if staff_id is None else [pk, staff_id])
        row = cursor.fetchone()
    if row is None:
        raise Account.DoesNotExist(f"account {pk} does not exist")
    split, rest = len(account), len(account) + len(tenant)
    locked = account.instance(row[:split])
    owner = tenant.instance(row[split:rest])
    owner.site = site.instance(row[rest:])  # type: ignore[attr-defined]
    locked.tenant = owner  # type: ignore[attr-defined]
    return locked  # type: ignore[return-value]


@cache
def _query(vendor: str, scoped: bool) -> tuple[str, Selection, Selection, Selection]:
    """Built once per backend: quoting, converters and the lock clause are the backend's."""
    accounts, tenants, sites = (m._meta.db_table for m in (Account, Tenant, Site))
    account = Selection(Account, accounts)
    tenant = Selection(Tenant, tenants)
    site = Selection(Site, sites)
    has_lock = connection.features.has_select_for_no_key_update
    lock = f" FOR NO KEY UPDATE OF {table(Account)}" if has_lock else ""
    sql = (
        f"SELECT {account.sql}, {tenant.sql}, {site.sql} FROM {table(Account)}"  # noqa: S608
        f" JOIN {table(Tenant)}"
        f" ON {col(Tenant, 'id', tenants)} = {col(Account, 'tenant', accounts)}"
        f" JOIN {table(Site)} ON {col(Site, 'id', sites)} = {col(Tenant, 'site', tenants)}"
        f" WHERE {col(Account, 'id', accounts)} = %s{_staff_sites() if scoped else ''}{lock}"
    )
    return sql, account, tenant, site


def _staff_sites() -> str:
    """``AND`` the account's site is one of a staff member's (``Site.staff``, many-to-many)."""
    through = Site._meta.get_field("staff").through  # type: ignore[union-attr]
    staff, site = (through._meta.get_field(name).column for name in ("staff", "site"))
    return (
        f" AND {col(Site, 'id', Site._meta.db_table)} IN"  # noqa: S608 — names, not values
        f" (SELECT {quote(site)} FROM {table(through)} WHERE {quote(staff)} = %s)"
    )
