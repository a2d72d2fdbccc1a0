"""Tariff actions: create, revise (future versions only) and assign to accounts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
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
from pems.domain.errors import CalendarRangeError, DomainError
from pems.domain.quantities import Unit
from pems.domain.tariff import Tariff as PricedTariff
from pems.domain.tariff import TariffVersion
from pems.domain.tariff_file import load_tariff
from pems.inventory.choices import Utility
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


def readable(tariff: Tariff) -> tuple[PricedTariff | None, str]:
    """The stored document parsed, or None and why the parser no longer accepts it."""
    try:
        return priced(tariff), ""
    except DomainError as error:
        return None, error.message.text(_)
    except TariffChangeRefused as error:  # e.g. the site now sells in another currency
        return None, str(error)


#: Where a version stands at a moment: not started yet, the latest started, replaced since.
SCHEDULED, IN_FORCE, SUPERSEDED = "scheduled", "in-force", "superseded"


def version_states(parsed: PricedTariff, now: datetime) -> list[tuple[TariffVersion, str]]:
    """The versions, oldest first, each with where it stands at ``now``."""
    versions = sorted(parsed.versions, key=lambda v: v.effective_from)
    started = [v for v in versions if v.effective_from <= now]
    current = started[-1].id if started else None
    return [
        (
            v,
            SCHEDULED if v.effective_from > now else (IN_FORCE if v.id == current else SUPERSEDED),
        )
        for v in versions
    ]


@transaction.atomic
def create_tariff(
    site: Site, name: str, document: str, actor: Any, reason: str = "", utility: str = "electricity"
) -> Tariff:
    _check_unit(parse(document, site, source=name), utility)
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
    _check_unit(new, locked.utility)
    if started_old and (changed_setting := _changed_setting(old, new, now)):
        raise TariffChangeRefused(
            _(
                "%(tariff)s: %(setting)s cannot change once a version is in force: "
                "it would reprice consumption already under way"
            )
            % {"tariff": locked.name, "setting": changed_setting}
        )
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


#: The unit each utility is metered and priced in.
UNITS = {Utility.ELECTRICITY: Unit.KWH, Utility.WATER: Unit.M3}


def _check_unit(parsed: PricedTariff, utility: str) -> None:
    expected = UNITS.get(utility)
    if expected is not None and parsed.unit != expected:
        raise TariffChangeRefused(
            _("%(tariff)s: %(utility)s is priced per %(expected)s, not per %(unit)s")
            % {
                "tariff": parsed.name,
                "utility": Utility(utility).label,
                "expected": expected.symbol,
                "unit": parsed.unit.symbol,
            }
        )


def _changed_setting(old: PricedTariff, new: PricedTariff, now: datetime) -> str | None:
    """The tariff-wide setting a revision changes that would reprice the past, if any.

    The unit, time zone and billing cycle apply to every version; the calendar
    may change only for days still to come (a new year's holidays, say), so
    every local day from the first version to today must keep its day type.
    A past day the calendar could not tell (a year the holiday library does not
    know, without fallback) may still be given one: nothing on it was priced
    under a day type, as settlement stopped there — this is how it resumes.
    """
    for label, before, after in [
        (_("the unit"), old.unit, new.unit),
        (_("the time zone"), old.zone, new.zone),
        (_("the billing cycle"), old.billing_cycle, new.billing_cycle),
    ]:
        if before != after:
            return label
    day = old.versions[0].effective_from.astimezone(old.zone).date()
    today = now.astimezone(old.zone).date()
    while day <= today:
        was = _day_type(old, day)
        if was is not CalendarRangeError and was != _day_type(new, day):
            return _("the calendar for %(day)s") % {"day": day.isoformat()}
        day += timedelta(days=1)
    return None


def _day_type(tariff: PricedTariff, day: date) -> object:
    try:
        return tariff.calendar.day_type(day)
    except CalendarRangeError:  # a year the library does not know, without fallback
        return CalendarRangeError


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
