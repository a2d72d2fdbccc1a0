"""Tariff changes apply from their date and never rewrite past consumption."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

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
