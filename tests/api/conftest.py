"""API test scenarios: two sites with a tenant each, people with each role, token clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from pems.access.models import ApiToken
from pems.accounts.actions import open_account
from pems.audit.models import AuditEvent
from pems.billing.actions import sell
from pems.control.models import Command
from pems.domain.money import Money
from pems.ledger.models import JournalEntry, LedgerAccount, Posting
from tests import factories


class TokenClient:
    """A Django test client that sends ``Authorization: Bearer <token>`` on every request."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.client = Client()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", "Accept-Language": "en"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self._headers())

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(
            path, body, content_type="application/json", headers=self._headers()
        )

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(path, body, content_type="application/json", headers=self._headers())

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            path, body, content_type="application/json", headers=self._headers()
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self._headers())


@pytest.fixture
def as_user():
    """``as_user(user)``: a client holding a fresh token of ``user``."""

    def make(user: Any) -> TokenClient:
        _token, secret = ApiToken.issue(user, "tests")
        return TokenClient(secret)

    return make


@dataclass
class Tenancy:
    """A site with one server-side point, a tenant and an open account holding credit."""

    site: Any
    point: Any
    tenant: Any
    account: Any
    sale: JournalEntry


def tenancy(name: str, credit: str = "100.00", **point: Any) -> Tenancy:
    site = factories.SiteFactory(name=name)
    room = factories.RoomFactory(site=site, name=f"{name}-101")
    mp = factories.MeteringPointFactory(meter__gateway__site=site, room=room, **point)
    tenant = factories.TenantFactory(site=site, name=f"{name} shop", room=room)
    account = open_account(tenant, [mp], actor="setup")
    sale, _push = sell(account, Money.of(credit, site.currency), "cash", "setup", f"seed-{name}")
    return Tenancy(site, mp, tenant, account, sale.entry)


@pytest.fixture
def north(db) -> Tenancy:
    return tenancy("North")


@pytest.fixture
def south(db) -> Tenancy:
    return tenancy("South")


def world() -> dict[str, Any]:
    """Everything a denied request must leave as it was."""
    return {
        "balances": sorted(LedgerAccount.objects.values_list("key", "balance")),
        "entries": JournalEntry.objects.count(),
        "postings": Posting.objects.count(),
        "commands": sorted(Command.objects.values_list("pk", "status")),
        "audit": AuditEvent.objects.count(),
    }


def errors_of(response: Any) -> list[tuple[str | None, str]]:
    """The (field, message) pairs of an error answer."""
    return [(e["field"], e["message"]) for e in response.json()["errors"]]
