"""Tariff actions: create, revise (future versions only) and assign to accounts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from pems.accounts.models import Account
from pems.audit.log import record
from pems.billing.models import AccountTariff, SettlementCursor, Tariff, TariffRevision
from pems.domain.tariff import Tariff as PricedTariff
from pems.domain.tariff_file import load_tariff
from pems.inventory.models import Site


class TariffChangeRefused(ValueError):
    """A tariff change would rewrite the past; the message says which part."""


@lru_cache(maxsize=256)
def _load(document: str, source: str, currency: str) -> PricedTariff:
    """Parsing is pure and documents are immutable per revision: parse each once."""
    return load_tariff(document, source=source, default_currency=currency)


def priced(tariff: Tariff) -> PricedTariff:
    """The domain tariff a stored document describes."""
    return parse(tariff.document, tariff.site, source=tariff.name)


def service_fee_ratio(document: str, name: str, site: Site, at: datetime) -> Decimal:
    """The service-fee ratio of the stored tariff ``document`` in force ``at``."""
    return parse(document, site, source=name).version_at(at).service_fee_ratio


def parse(document: str, site: Site, source: str = "<tariff>") -> PricedTariff:
    """Validate a document (``TariffFileError`` lists every problem with its field path)."""
    parsed = _load(document, source, site.currency)
    if parsed.currency != site.currency:
        raise TariffChangeRefused(
            _("%(tariff)s: priced in %(priced)s, but %(site)s sells in %(currency)s")
            % {
                "tariff": source,
                "priced": parsed.currency,
                "site": site.name,
                "currency": site.currency,
            }
        )
    return parsed


@transaction.atomic
def create_tariff(
    site: Site, name: str, document: str, actor: Any, reason: str = "", utility: str = "electricity"
) -> Tariff:
    parse(document, site, source=name)
    tariff = Tariff.objects.create(site=site, name=name, document=document, utility=utility)
    _revision(tariff, actor, reason or "created")
    return tariff


@transaction.atomic
def revise_tariff(
    tariff: Tariff, document: str, actor: Any, reason: str, now: datetime | None = None
) -> Tariff:
    """Replace the document; versions already in force must stay exactly as they were."""
    now = now or timezone.now()
    locked = Tariff.objects.select_for_update().get(pk=tariff.pk)
    old, new = priced(locked), parse(document, locked.site, source=locked.name)
    started_old = [v for v in old.versions if v.effective_from <= now]
    started_new = [v for v in new.versions if v.effective_from <= now]
    if started_old != started_new:
        changed = {v.id for v in started_old} ^ {v.id for v in started_new} or {
            a.id for a, b in zip(started_old, started_new, strict=False) if a != b
        }
        raise TariffChangeRefused(
            _(
                "%(tariff)s: version(s) %(versions)s already in force cannot change; "
                "add a new version with a future effective_from instead"
            )
            % {"tariff": locked.name, "versions": ", ".join(sorted(changed))}
        )
    locked.document = document
    locked.save(update_fields=["document", "updated_at"])
    _revision(locked, actor, reason)
    return locked


def _revision(tariff: Tariff, actor: Any, reason: str) -> None:
    user = actor if getattr(actor, "is_authenticated", False) else None
    TariffRevision.objects.create(
        tariff=tariff, document=tariff.document, created_by=user, reason=reason
    )
    record(actor, "tariff.revise", tariff, {"document": tariff.document}, reason)


@transaction.atomic
def assign_tariff(
    account: Account, tariff: Tariff, effective_from: datetime, actor: Any, reason: str = ""
) -> AccountTariff:
    """Price the account under ``tariff`` from ``effective_from`` — never before what is settled."""
    settled = SettlementCursor.objects.filter(account=account).aggregate(
        until=Max("settled_until")
    )["until"]
    if settled is not None and effective_from < settled:
        raise TariffChangeRefused(
            _(
                "account %(account)s is settled until %(settled)s: a tariff change "
                "cannot start before that"
            )
            % {"account": account.pk, "settled": settled.isoformat()}
        )
    assignment = AccountTariff(account=account, tariff=tariff, effective_from=effective_from)
    assignment.full_clean()
    assignment.save()
    record(
        actor,
        "account.tariff",
        account,
        {"tariff": tariff.name, "effective_from": effective_from.isoformat()},
        reason,
    )
    return assignment


def tariff_at(account: Account, instant: datetime) -> Tariff | None:
    """The tariff the account pays under at ``instant``."""
    row = (
        AccountTariff.objects.filter(account=account, effective_from__lte=instant)
        .select_related("tariff__site")
        .order_by("-effective_from")
        .first()
    )
    return row.tariff if row else None
