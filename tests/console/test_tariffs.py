"""Tariff pages: the site's list, create (pasted or uploaded), revise, refusals write nothing."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from pems import examples
from pems.audit.models import AuditEvent
from pems.billing.models import Tariff, TariffRevision
from pems.billing.tariffs import create_tariff
from pems.inventory.models import Site
from tests.console.conftest import FLAT_WITH_FEE

pytestmark = pytest.mark.django_db

#: The shipped four-rate time-of-use example (seasons, holidays, a valley across midnight).
TOU = (Path(examples.__file__).parent / "tariffs" / "tou.toml").read_text("utf-8")

#: Two problems at once: a price that is not a number, and a version without an id.
BROKEN = """
name = "Broken"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"

[[versions]]
effective_from = 2025-01-01
prices = { flat = "cheap" }
"""

FUTURE_VERSION = """
[[versions]]
id = "v2"
effective_from = 2099-01-01
service_fee_ratio = 0.02
prices = { flat = 1.10 }
"""

#: Shanghai's tariff from its local midnight on New Year 2027 (16:00 UTC the day before).
SHANGHAI_2027 = """
name = "Shanghai 2027"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"

[[versions]]
id = "y2027"
effective_from = 2027-01-01T00:00:00+08:00
prices = { flat = 0.90 }
"""

#: When the tariffs in the time-zone tests are created: 02:30 on 1 July in Shanghai.
CREATED = dt.datetime(2026, 6, 30, 18, 30, tzinfo=dt.UTC)


def text(response) -> str:
    return html.unescape(response.content.decode())


def counts() -> tuple[int, int, int]:
    return Tariff.objects.count(), TariffRevision.objects.count(), AuditEvent.objects.count()


def new(client, site, document: str = TOU, **fields):
    data = {
        "site": site.pk,
        "name": "Shop TOU",
        "utility": "electricity",
        "document": document,
        "reason": "new shop tariff",
        **fields,
    }
    return client.post(reverse("console:tariff-new"), data)


def test_the_list_shows_the_sites_tariffs_only(login, plaza):
    create_tariff(plaza.other_site, "Elsewhere flat", FLAT_WITH_FEE, actor="setup")
    client = login("manager")
    page = client.get(reverse("console:tariffs"))
    assert page.status_code == 200
    body = text(page)
    assert 'id="nav-tariffs"' in body
    assert f'data-tariff="{plaza.tariff.pk}"' in body
    assert "Elsewhere flat" not in body
    assert 'data-version="v1" data-state="in-force"' in body
    # Four open accounts on the North Plaza pay under "Flat" (the fifth is elsewhere).
    assert page.context["rows"][0].accounts == 4
    assert page.context["rows"][0].last.reason == "created"


def test_a_manager_of_two_sites_picks_one(login, plaza):
    create_tariff(plaza.other_site, "Elsewhere flat", FLAT_WITH_FEE, actor="setup")
    client = login("manager", plaza.site, plaza.other_site)
    both = text(client.get(reverse("console:tariffs")))
    assert 'id="site-picker"' in both
    assert "Elsewhere flat" in both
    assert f'data-tariff="{plaza.tariff.pk}"' in both
    south = text(client.get(reverse("console:tariffs"), {"site": plaza.other_site.pk}))
    assert "Elsewhere flat" in south
    assert f'data-tariff="{plaza.tariff.pk}"' not in south


def test_another_sites_tariff_is_not_found(login, plaza):
    elsewhere = create_tariff(plaza.other_site, "Elsewhere", FLAT_WITH_FEE, actor="setup")
    client = login("manager")
    assert client.get(reverse("console:tariff-detail", args=[elsewhere.pk])).status_code == 404
    before = counts()
    response = client.post(
        reverse("console:tariff-detail", args=[elsewhere.pk]),
        {"document": FLAT_WITH_FEE + FUTURE_VERSION, "reason": "sneaky"},
    )
    assert response.status_code == 404
    assert counts() == before


@pytest.mark.parametrize("role", ["cashier", "operator", "readonly"])
def test_only_managers_see_or_reach_the_tariff_pages(login, plaza, role):
    client = login(role)
    assert 'id="nav-tariffs"' not in client.get(reverse("console:dashboard")).content.decode()
    assert client.get(reverse("console:tariffs")).status_code == 403
    assert client.get(reverse("console:tariff-new")).status_code == 403
    assert client.get(reverse("console:tariff-detail", args=[plaza.tariff.pk])).status_code == 403
    before = counts()
    assert new(client, plaza.site).status_code == 403
    revise = {"document": FLAT_WITH_FEE + FUTURE_VERSION, "reason": "not mine to change"}
    response = client.post(reverse("console:tariff-detail", args=[plaza.tariff.pk]), revise)
    assert response.status_code == 403
    assert counts() == before
    plaza.tariff.refresh_from_db()
    assert plaza.tariff.document == FLAT_WITH_FEE


def test_a_manager_creates_a_tariff_and_it_is_audited(login, plaza):
    client = login("manager")
    response = new(client, plaza.site)
    tariff = Tariff.objects.get(site=plaza.site, name="Shop TOU")
    assert response.status_code == 302
    assert response.url == reverse("console:tariff-detail", args=[tariff.pk])
    assert tariff.document.strip() == TOU.strip()
    revision = TariffRevision.objects.get(tariff=tariff)
    assert revision.created_by == client.user
    assert revision.reason == "new shop tariff"
    event = AuditEvent.objects.get(action="tariff.revise", object_id=str(tariff.pk))
    assert event.actor == client.user
    assert event.reason == "new shop tariff"
    page = client.get(response.url)
    assert "Tariff Shop TOU created." in text(page)
    assert 'data-version="tou-2025" data-state="in-force"' in text(page)


def test_a_malformed_document_shows_every_problem_and_writes_nothing(login, plaza):
    client = login("manager")
    before = counts()
    response = new(client, plaza.site, document=BROKEN, name="Broken")
    assert response.status_code == 400
    assert counts() == before
    errors = response.context["form"].errors["document"]
    assert any("versions[0].id" in e for e in errors), errors
    assert any("versions[0].prices.flat" in e for e in errors), errors
    body = text(response)
    assert 'id="id_document-errors"' in body
    assert "versions[0].prices.flat" in body
    assert 'prices = { flat = "cheap" }' in body  # what was typed is kept
    assert 'value="Broken"' in body


def test_toml_syntax_errors_are_shown_too(login, plaza):
    client = login("manager")
    before = counts()
    response = new(client, plaza.site, document='name = "x\n[[versions]')
    assert response.status_code == 400
    assert response.context["form"].errors["document"]
    assert counts() == before


def test_problems_are_shown_in_chinese_for_a_chinese_reader(login, plaza):
    client = login("manager")
    client.cookies["django_language"] = "zh-hans"
    response = new(client, plaza.site, document=BROKEN, name="Broken")
    errors = " ".join(response.context["form"].errors["document"])
    assert "versions[0].prices.flat" in errors
    assert any("\u4e00" <= ch <= "\u9fff" for ch in errors), errors


def test_a_name_already_used_at_the_site_is_refused(login, plaza):
    client = login("manager")
    before = counts()
    response = new(client, plaza.site, name="Flat")
    assert response.status_code == 400
    assert "already has a tariff with this name" in text(response)
    assert counts() == before


def test_a_tariff_is_created_from_an_uploaded_file(login, plaza):
    client = login("manager")
    upload = SimpleUploadedFile("tou.toml", TOU.replace("\n", "\r\n").encode(), "text/plain")
    response = new(client, plaza.site, document="", upload=upload, name="Uploaded TOU")
    assert response.status_code == 302
    tariff = Tariff.objects.get(site=plaza.site, name="Uploaded TOU")
    assert tariff.document == TOU  # the file's text, line endings as a file has them
    assert TariffRevision.objects.filter(tariff=tariff, reason="new shop tariff").exists()


def test_a_bad_uploaded_file_comes_back_in_the_text_area(login, plaza):
    client = login("manager")
    before = counts()
    upload = SimpleUploadedFile("broken.toml", BROKEN.encode(), "text/plain")
    response = new(client, plaza.site, document="", upload=upload, name="Broken")
    assert response.status_code == 400
    assert counts() == before
    assert 'prices = { flat = "cheap" }' in text(response)  # editable where it is shown
    latin1 = SimpleUploadedFile("latin.toml", "name = 'caf\xe9'".encode("latin-1"))
    response = new(client, plaza.site, document="", upload=latin1, name="Latin")
    assert "not UTF-8 text" in text(response)
    assert counts() == before


def test_a_document_is_required(login, plaza):
    client = login("manager")
    before = counts()
    response = new(client, plaza.site, document="  ")
    assert response.status_code == 400
    assert "Paste the tariff document or upload a file." in text(response)
    assert counts() == before


def test_the_detail_page_shows_versions_document_and_history(login, plaza):
    client = login("manager")
    page = client.get(reverse("console:tariff-detail", args=[plaza.tariff.pk]))
    assert page.status_code == 200
    body = text(page)
    assert 'data-version="v1" data-state="in-force"' in body
    assert 'id="revisions-table"' in body
    assert page.context["form"]["document"].value() == FLAT_WITH_FEE  # prefilled
    assert [r.revision.reason for r in page.context["revisions"]] == ["created"]


def test_a_revision_adding_a_future_version_is_saved_and_audited(login, plaza):
    client = login("manager")
    document = (FLAT_WITH_FEE + FUTURE_VERSION).replace("\n", "\r\n")  # as a browser sends it
    response = client.post(
        reverse("console:tariff-detail", args=[plaza.tariff.pk]),
        {"document": document, "reason": "price rise from 2099"},
    )
    assert response.status_code == 302
    plaza.tariff.refresh_from_db()
    assert plaza.tariff.document == FLAT_WITH_FEE + FUTURE_VERSION
    revision = TariffRevision.objects.filter(tariff=plaza.tariff).first()  # newest first
    assert revision.reason == "price rise from 2099"
    assert revision.created_by == client.user
    assert AuditEvent.objects.filter(
        action="tariff.revise", object_id=str(plaza.tariff.pk), reason="price rise from 2099"
    ).exists()
    body = text(client.get(response.url))
    assert "Tariff Flat revised." in body
    assert 'data-version="v2" data-state="scheduled"' in body


def test_a_revision_changing_a_version_in_force_is_refused_and_writes_nothing(login, plaza):
    client = login("manager")
    before = counts()
    changed = FLAT_WITH_FEE.replace("flat = 1.00", "flat = 1.50")
    response = client.post(
        reverse("console:tariff-detail", args=[plaza.tariff.pk]),
        {"document": changed, "reason": "rewrite history"},
    )
    assert response.status_code == 400
    body = text(response)
    assert "v1 already in force cannot change" in body
    assert "flat = 1.50" in body  # what was typed is kept
    assert counts() == before
    plaza.tariff.refresh_from_db()
    assert plaza.tariff.document == FLAT_WITH_FEE


def test_a_revision_needs_a_reason_and_a_change(login, plaza):
    client = login("manager")
    before = counts()
    url = reverse("console:tariff-detail", args=[plaza.tariff.pk])
    no_reason = client.post(url, {"document": FLAT_WITH_FEE + FUTURE_VERSION, "reason": ""})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.context["form"].errors
    same = client.post(url, {"document": FLAT_WITH_FEE, "reason": "again"})
    assert "The document is unchanged" in text(same)
    assert counts() == before


def test_a_revision_from_an_uploaded_file(login, plaza):
    client = login("manager")
    upload = SimpleUploadedFile("flat.toml", (FLAT_WITH_FEE + FUTURE_VERSION).encode())
    response = client.post(
        reverse("console:tariff-detail", args=[plaza.tariff.pk]),
        {"document": FLAT_WITH_FEE, "upload": upload, "reason": "from the file"},
    )
    assert response.status_code == 302
    plaza.tariff.refresh_from_db()
    assert plaza.tariff.document == FLAT_WITH_FEE + FUTURE_VERSION


def shanghai_2027(site) -> Tariff:
    with time_machine.travel(CREATED, tick=False):
        return create_tariff(site, "Shanghai 2027", SHANGHAI_2027, actor="setup")


@override_settings(TIME_ZONE="UTC")
def test_a_version_starts_at_the_tariffs_local_midnight_whatever_the_servers_zone(login, plaza):
    tariff = shanghai_2027(plaza.site)
    client = login("manager")
    detail = text(client.get(reverse("console:tariff-detail", args=[tariff.pk])))
    listed = text(client.get(reverse("console:tariffs")))
    for body in (detail, listed):
        assert 'data-version="y2027"' in body
        assert "2027-01-01 00:00 Asia/Shanghai" in body
        assert "2026-12-31 16:00" not in body  # the server's zone, not the tariff's


def test_revision_times_are_in_the_sites_zone_and_versions_in_the_tariffs(login, plaza):
    # A site in Xinjiang keeps Urumqi time while its tariff is priced on Beijing time.
    plaza.site.time_zone = "Asia/Urumqi"
    plaza.site.save()
    tariff = shanghai_2027(plaza.site)
    client = login("manager")
    with timezone.override("Europe/London"):
        detail = text(client.get(reverse("console:tariff-detail", args=[tariff.pk])))
        listed = text(client.get(reverse("console:tariffs")))
    assert "2026-07-01 00:30:00 Asia/Urumqi" in detail
    assert "2026-07-01 00:30 Asia/Urumqi" in listed
    for body in (detail, listed):
        assert "2027-01-01 00:00 Asia/Shanghai" in body
        assert "2026-06-30 19:30" not in body  # London's summer time
        assert "2026-07-01 02:30" not in body  # the tariff's zone is not the site's


@override_settings(TIME_ZONE="UTC")
def test_a_document_that_no_longer_parses_still_shows_its_history_in_the_sites_zone(login, plaza):
    tariff = shanghai_2027(plaza.site)
    Tariff.objects.filter(pk=tariff.pk).update(document=BROKEN)  # as if the parser got stricter
    client = login("manager")
    page = client.get(reverse("console:tariff-detail", args=[tariff.pk]))
    assert page.status_code == 200
    body = text(page)
    assert 'id="tariff-problem"' in body
    assert "2026-07-01 02:30:00 Asia/Shanghai" in body
    assert "2026-06-30 18:30" not in body
    listed = text(client.get(reverse("console:tariffs")))
    assert "2026-07-01 02:30 Asia/Shanghai" in listed


def test_a_tariff_in_another_currency_than_its_site_now_sells_in_shows_the_problem(login, plaza):
    tariff = shanghai_2027(plaza.site)
    Site.objects.filter(pk=plaza.site.pk).update(currency="USD")  # the site changed currency
    page = login("manager").get(reverse("console:tariff-detail", args=[tariff.pk]))
    assert page.status_code == 200
    body = text(page)
    assert 'id="tariff-problem"' in body
    assert "USD" in body
