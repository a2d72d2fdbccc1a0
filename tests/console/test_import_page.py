"""The sheet upload page: check, import with progress, errors by row and column, scope.

The import runs in a worker thread with its own database connection, so these
tests commit their data (``transaction=True``).
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pems.audit.models import AuditEvent
from pems.inventory.models import Meter
from pems.inventory.models.catalogue import sync_catalogue
from pems.siteplan import plaza, write_sheet
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plaza_sheet(tmp_path) -> bytes:
    path = tmp_path / "plaza.csv"
    write_sheet(plaza(), path)
    return path.read_bytes()


@pytest.fixture
def manager(client):
    sync_catalogue()
    site = factories.SiteFactory(name="Plaza")
    user = factories.staff_user("manager", site)
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client, site


def upload(client, site, body: bytes, name: str = "plaza.csv", dry_run: bool = False):
    data = {
        "site": site.pk,
        "sheet": SimpleUploadedFile(name, body),
        "reason": "first installation",
    }
    if dry_run:
        data["dry_run"] = "on"
    response = client.post(reverse("console:import"), data)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def test_check_then_import_the_plaza_with_progress(manager, plaza_sheet):
    client, site = manager
    checked = upload(client, site, plaza_sheet, dry_run=True)
    assert 'id="import-ok"' in checked
    assert "nothing was written" in checked
    assert not Meter.objects.exists()
    page = upload(client, site, plaza_sheet)
    assert "<progress" in page
    assert "242 of 242 rows" in page
    assert Meter.objects.filter(gateway__site=site).count() == 242
    assert AuditEvent.objects.filter(reason="first installation").exists()
    again = upload(client, site, plaza_sheet)
    assert "Nothing to change" in again


def test_a_bad_sheet_lists_rows_and_columns_and_writes_nothing(manager, plaza_sheet):
    client, site = manager
    rows = list(csv.DictReader(io.StringIO(plaza_sheet.decode("utf-8-sig"))))
    rows[3]["meter_address"] = rows[2]["meter_address"]  # two meters on one address
    rows[5]["gateway_port"] = "99999"
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    page = upload(client, site, out.getvalue().encode())
    assert 'id="import-failed"' in page
    assert "<td>meter_address</td>" in page
    assert "<td>gateway_port</td>" in page
    assert not Meter.objects.exists()


def test_the_form_refuses_other_files_and_other_sites(manager, client):
    client, site = manager
    other = factories.SiteFactory(name="Elsewhere")
    bad = client.post(
        reverse("console:import"),
        {"site": site.pk, "sheet": SimpleUploadedFile("notes.txt", b"x"), "reason": "r"},
    )
    assert bad.status_code == 400
    assert "sheet" in bad.context["form"].errors
    foreign = client.post(
        reverse("console:import"),
        {"site": other.pk, "sheet": SimpleUploadedFile("a.csv", b"x"), "reason": "r"},
    )
    assert "site" in foreign.context["form"].errors


def test_only_people_who_edit_inventory_may_import(client, db):
    site = factories.SiteFactory(name="Plaza")
    client.force_login(factories.staff_user("cashier", site))
    assert client.get(reverse("console:import")).status_code == 403


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "the sheet describes site Plaza"), ("zh-hans", "Plaza")],
)
def test_the_imports_messages_are_in_the_pages_language(manager, plaza_sheet, language, expected):
    """The import runs in a worker thread, which must speak the person's language too."""
    from django.utils import translation

    client, _ = manager
    elsewhere = factories.SiteFactory(name="Elsewhere")
    client.force_login(factories.staff_user("manager", elsewhere))
    client.cookies["django_language"] = language
    page = upload(client, elsewhere, plaza_sheet, dry_run=True)
    with translation.override(language):
        message = translation.gettext(
            "the sheet describes site %(sheet)s, not %(site)s: "
            "check the sheet or the site you import into"
        ) % {"sheet": "Plaza", "site": "Elsewhere"}
    assert expected in message
    assert message in page.replace("&quot;", '"').replace("&#x27;", "'")


def test_a_person_with_one_site_finds_it_chosen(manager):
    client, site = manager
    page = client.get(reverse("console:import")).content.decode()
    assert f'<option value="{site.pk}" selected>' in page
    assert "---------" not in page
