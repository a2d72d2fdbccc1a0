"""Tariff changes apply from their date and never rewrite past consumption."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from pems import examples
from pems.audit.models import AuditEvent
from pems.billing.models import TariffRevision
from pems.billing.settlement import settle_point
from pems.billing.tariffs import (
    TariffChangeRefused,
    assign_tariff,
    create_tariff,
    priced,
    revise_tariff,
)
from pems.domain.tariff_file import TariffFileError
from tests.billing.scenarios import T0, flat_tariff_document, reading, server_side_tenant
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
FUTURE_VERSION = """
[[versions]]
id = "v2"
effective_from = 2026-07-01
prices = { flat = 1.20 }
"""


def test_a_future_version_can_be_added():
    site = SiteFactory()
    tariff = create_tariff(site, "Flat", flat_tariff_document(), "manager")
    tariff = revise_tariff(
        tariff, flat_tariff_document(extra=FUTURE_VERSION), "manager", "July prices", now=NOW
    )
    versions = priced(tariff).versions
    assert [v.id for v in versions] == ["v1", "v2"]
    assert TariffRevision.objects.filter(tariff=tariff).count() == 2
    assert AuditEvent.objects.filter(action="tariff.revise", reason="July prices").exists()


def test_a_version_already_in_force_cannot_change():
    site = SiteFactory()
    tariff = create_tariff(site, "Flat", flat_tariff_document("1.00"), "manager")
    with pytest.raises(TariffChangeRefused, match="v1 already in force"):
        revise_tariff(tariff, flat_tariff_document("0.50"), "manager", "cheaper", now=NOW)
    tariff.refresh_from_db()
    assert priced(tariff).versions[0].prices["flat"] == Decimal("1.00")
    assert TariffRevision.objects.filter(tariff=tariff).count() == 1


def test_a_version_cannot_be_added_in_the_past():
    site = SiteFactory()
    tariff = create_tariff(site, "Flat", flat_tariff_document(), "manager")
    past = FUTURE_VERSION.replace("2026-07-01", "2026-05-01")
    with pytest.raises(TariffChangeRefused, match="v2"):
        revise_tariff(tariff, flat_tariff_document(extra=past), "manager", "oops", now=NOW)


def test_a_malformed_document_names_the_field():
    site = SiteFactory()
    with pytest.raises(TariffFileError, match="prices"):
        create_tariff(site, "Bad", flat_tariff_document("-1"), "manager")


def test_a_tariff_in_another_currency_is_refused():
    site = SiteFactory(currency="USD")
    with pytest.raises(TariffChangeRefused, match="sells in USD"):
        create_tariff(site, "Flat", flat_tariff_document(), "manager")


def test_an_account_tariff_change_cannot_start_before_what_is_settled():
    account, point = server_side_tenant()
    reading(point, 0, "100.000")
    settle_point(account, point)
    reading(point, 15, "101.000")
    settle_point(account, point)
    other = create_tariff(account.tenant.site, "Other", flat_tariff_document("2.00"), "manager")
    with pytest.raises(TariffChangeRefused, match="settled until"):
        assign_tariff(account, other, T0, "manager")
    assign_tariff(account, other, T0 + dt.timedelta(minutes=15), "manager")


def test_tariff_revisions_are_append_only():
    tariff = create_tariff(SiteFactory(), "Flat", flat_tariff_document(), "manager")
    revision = TariffRevision.objects.get(tariff=tariff)
    revision.reason = "rewritten"
    with pytest.raises(PermissionError, match="append-only; save a new revision instead"):
        revision.save()
    with pytest.raises(PermissionError):
        revision.delete()
    assert TariffRevision.objects.get(pk=revision.pk).reason == "created"


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        # the unit goes with the tariff's utility, which never changes
        (('unit = "kWh"', 'unit = "m3"'), "Electricity is priced per kWh, not per m³"),
        (('timezone = "Asia/Shanghai"', 'timezone = "Asia/Urumqi"'), "the time zone cannot change"),
        (
            ('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghai"\nbilling_cycle = "year"'),
            "the billing cycle cannot change",
        ),
        (
            (
                'timezone = "Asia/Shanghai"',
                'timezone = "Asia/Shanghai"\n[calendar]\nholidays = [2026-05-20]',
            ),
            "the calendar for 2026-05-20 cannot change",
        ),
    ],
)
def test_a_setting_every_version_uses_cannot_change_once_one_is_in_force(change, refusal):
    """Changed with the versions intact, each would reprice consumption already under way."""
    tariff = create_tariff(SiteFactory(), "Flat", flat_tariff_document(), "manager")
    document = flat_tariff_document(extra=FUTURE_VERSION).replace(*change)
    with pytest.raises(TariffChangeRefused, match=refusal):
        revise_tariff(tariff, document, "manager", "settings", now=NOW)
    assert TariffRevision.objects.filter(tariff=tariff).count() == 1


def test_the_calendar_can_change_for_days_to_come_and_before_any_version_is_in_force():
    """A new year's holidays are added as they are published; a tariff not yet in force
    may change anything."""
    tariff = create_tariff(SiteFactory(), "Flat", flat_tariff_document(), "manager")
    coming = flat_tariff_document().replace(
        'timezone = "Asia/Shanghai"',
        'timezone = "Asia/Shanghai"\n'
        "[calendar]\nholidays = [2026-06-02]\nfallback_to_weekends = true",
    )
    tariff = revise_tariff(tariff, coming, "manager", "local holiday", now=NOW)  # NOW: 2026-06-01
    later = create_tariff(
        SiteFactory(), "Later", flat_tariff_document(effective_from="2026-09-01"), "manager"
    )
    later = revise_tariff(
        later,
        flat_tariff_document(effective_from="2026-09-01").replace("Asia/Shanghai", "Asia/Urumqi"),
        "manager",
        "the right zone",
        now=NOW,
    )
    assert priced(tariff).calendar.day_type(dt.date(2026, 6, 2)).value == "holiday"
    assert str(priced(later).zone) == "Asia/Urumqi"


def test_a_water_tariff_is_priced_per_cubic_metre():
    with pytest.raises(TariffChangeRefused, match="Water is priced per m³, not per kWh"):
        create_tariff(SiteFactory(), "Water", flat_tariff_document(), "manager", utility="water")
    water = create_tariff(
        SiteFactory(),
        "Water",
        flat_tariff_document().replace('"kWh"', '"m3"'),
        "manager",
        utility="water",
    )
    assert priced(water).unit.value == "m3"


def test_days_the_calendar_could_not_tell_may_be_given_a_day_type_once_past():
    """A day-type tariff stopped on the first day of a year the holiday library does not
    know (2098 here): nothing was priced by day type since, so the year's dates and the
    fallback may still be added, and settlement resumes; a day it knew stays as it was."""
    document = (
        (Path(examples.__file__).parent / "tariffs" / "tou.toml")
        .read_text("utf-8")
        .replace("2025-01-01", "2098-06-01")
        .replace("holidays = [2025-12-25]", "holidays = [2098-06-02]")
    )
    tariff = create_tariff(SiteFactory(), "TOU", document, "manager")
    now = dt.datetime(2099, 1, 10, tzinfo=dt.UTC)
    with pytest.raises(TariffChangeRefused, match="the calendar for 2098-06-02 cannot change"):
        revise_tariff(tariff, document.replace("[2098-06-02]", "[]"), "manager", "oops", now=now)
    fixed = document.replace(
        "chinese_holidays = true", "chinese_holidays = true\nfallback_to_weekends = true"
    ).replace("[2098-06-02]", "[2098-06-02, 2099-01-01]")
    tariff = revise_tariff(tariff, fixed, "manager", "2099 holidays", now=now)
    calendar = priced(tariff).calendar
    assert calendar.day_type(dt.date(2099, 1, 1)).value == "holiday"
    assert calendar.day_type(dt.date(2099, 1, 5)).value == "workday"
