"""An admin logs in (zh-Hans and English) and builds a site through the admin pages;
bad input comes back with the message on the field that caused it."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from pems.accounts.actions import open_account
from pems.accounts.models import Account, Tenant
from pems.audit.models import AuditEvent
from pems.inventory.models import Gateway, Meter, MeteringPoint, Site
from tests import factories
from tests.factories import MeterFactory, catalogue_model

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_user():
    return get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)


@pytest.fixture
def logged_in(client, admin_user):
    client.cookies["django_language"] = "en"
    response = client.post("/admin/login/?next=/admin/", {"username": "boss", "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.mark.parametrize(
    ("language", "login_title", "index_text"),
    [("zh-hans", "登录", "站点管理"), ("en", "Log in", "Site administration")],
)
def test_admin_logs_in_in_either_language(client, admin_user, language, login_title, index_text):
    client.cookies["django_language"] = language
    page = client.get("/admin/login/").content.decode()
    assert f"<title>{login_title} | PEMS</title>" in page
    client.post("/admin/login/", {"username": "boss", "password": PASSWORD})
    index = client.get("/admin/").content.decode()
    assert index_text in index
    assert f'<html lang="{language}"' in index


def test_our_own_labels_are_translated_to_chinese(logged_in):
    logged_in.cookies["django_language"] = "zh-hans"
    page = logged_in.get("/admin/inventory/meter/add/").content.decode()
    assert "总线地址" in page  # "bus address"
    assert "电表型号" in page or "型号" in page


def test_the_language_switcher_changes_language(logged_in):
    response = logged_in.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    assert response.status_code == 302
    assert "Site administration" in logged_in.get("/admin/").content.decode()


def field_errors(response, field: str) -> str:
    """The error list the admin renders under one field, or '' when there is none."""
    match = re.search(
        rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', response.content.decode(), re.S
    )
    return match.group(1) if match else ""


def test_admin_creates_site_gateway_meter_point_tenant_and_account(logged_in):
    sync = catalogue_model("DTSY1352-NK")
    r = logged_in.post(
        "/admin/inventory/site/add/",
        {
            "name": "Plaza",
            "time_zone": "Asia/Shanghai",
            "currency": "CNY",
            "locale": "zh-hans",
            "default_alarm1_threshold": "50",
            "default_alarm2_threshold": "20",
            "default_overdraft_limit": "0",
            "default_reconnect_minimum": "0",
        },
    )
    assert r.status_code == 302, r.content
    site = Site.objects.get(name="Plaza")
    r = logged_in.post(
        "/admin/inventory/gateway/add/",
        {
            "site": site.pk,
            "name": "Shaft 1",
            "host": "192.0.2.10",
            "port": "4001",
            "protocol": "modbus-rtu-over-tcp",
            "baud": "9600",
            "parity": "N",
            "enabled": "on",
        },
    )
    assert r.status_code == 302, r.content
    gateway = Gateway.objects.get(name="Shaft 1")
    r = logged_in.post("/admin/inventory/meter/add/", meter_form(gateway, sync.pk, address="12"))
    assert r.status_code == 302, r.content
    meter = Meter.objects.get(gateway=gateway, address=12)
    assert meter.metering_points.get().fee_control == "meter-side"
    point = MeteringPoint.objects.get(meter=meter)
    r = logged_in.post(
        "/admin/accounts/tenant/add/",
        {"site": site.pk, "name": "Noodles", "mobile": "138 0013 8000"},
    )
    assert r.status_code == 302, r.content
    tenant = Tenant.objects.get(name="Noodles")
    assert tenant.mobile == "13800138000"
    r = logged_in.post("/admin/accounts/account/add/", account_form(tenant, point))
    assert r.status_code == 302, r.content
    account = Account.objects.get(tenant=tenant)
    assert list(account.metering_points.all()) == [point]
    actions = set(AuditEvent.objects.values_list("object_type", "action"))
    assert {
        ("inventory.site", "create"),
        ("inventory.gateway", "create"),
        ("inventory.meter", "create"),
        ("inventory.meteringpoint", "create"),
        ("accounts.tenant", "create"),
        ("accounts.account", "create"),
        ("accounts.accountmeteringpoint", "create"),
    } <= actions
    assert AuditEvent.objects.filter(actor__username="boss").count() == len(
        AuditEvent.objects.all()
    )


def meter_form(gateway, model_pk, address, number="240000000001", **points):
    data = {
        "gateway": gateway.pk,
        "address": address,
        "address_count": "1",
        "number": number,
        "model": model_pk,
        "ct_ratio": "1",
        "pt_ratio": "1",
        "key_version": "1",
        "metering_points-TOTAL_FORMS": "1",
        "metering_points-INITIAL_FORMS": "0",
        "metering_points-MIN_NUM_FORMS": "0",
        "metering_points-MAX_NUM_FORMS": "1000",
        "metering_points-0-circuit": "1",
        "metering_points-0-phases": "3",
        "metering_points-0-utility": "electricity",
        "metering_points-0-fee_control": "meter-side",
    }
    data.update(points)
    return data


def account_form(tenant, point):
    return {
        "tenant": tenant.pk,
        "opened_at_0": "2026-11-01",
        "opened_at_1": "08:00:00",
        "links-TOTAL_FORMS": "1",
        "links-INITIAL_FORMS": "0",
        "links-MIN_NUM_FORMS": "0",
        "links-MAX_NUM_FORMS": "1000",
        "links-0-metering_point": point.pk,
        "links-0-attached_at_0": "2026-11-01",
        "links-0-attached_at_1": "08:00:00",
    }


def test_address_300_is_refused_on_the_address_field(logged_in, rtu_gateway):
    model = catalogue_model("DTSY1352-NK")
    r = logged_in.post("/admin/inventory/meter/add/", meter_form(rtu_gateway, model.pk, "300"))
    assert r.status_code == 200
    assert "outside 1–247" in field_errors(r, "address")
    assert not Meter.objects.exists()


def test_duplicate_address_is_refused_on_the_address_field(logged_in, rtu_gateway):
    existing = MeterFactory(gateway=rtu_gateway, address=7)
    r = logged_in.post(
        "/admin/inventory/meter/add/", meter_form(rtu_gateway, existing.model_id, "7")
    )
    assert "has this address" in field_errors(r, "address")
    assert Meter.objects.count() == 1


def test_37th_single_phase_circuit_is_refused_in_the_admin(logged_in, rtu_gateway):
    box = MeterFactory(
        gateway=rtu_gateway, address=1, address_count=36, model=catalogue_model("ADF300")
    )
    MeteringPoint.objects.bulk_create(
        MeteringPoint(meter=box, circuit=n, phases=1) for n in range(1, 37)
    )
    r = logged_in.post(
        "/admin/inventory/meteringpoint/add/",
        {
            "meter": box.pk,
            "circuit": "37",
            "phases": "1",
            "utility": "electricity",
            "fee_control": "server-side",
        },
    )
    assert "circuit 37 does not exist" in field_errors(r, "circuit")
    assert box.metering_points.count() == 36


def test_malformed_phone_is_refused_on_the_mobile_field(logged_in, site):
    r = logged_in.post(
        "/admin/accounts/tenant/add/", {"site": site.pk, "name": "X", "mobile": "12345"}
    )
    assert "not a mobile number" in field_errors(r, "mobile")
    assert not Tenant.objects.exists()


def test_refusals_read_in_chinese_for_a_chinese_session(logged_in, rtu_gateway):
    logged_in.cookies["django_language"] = "zh-hans"
    model = catalogue_model("DTSY1352-NK")
    r = logged_in.post("/admin/inventory/meter/add/", meter_form(rtu_gateway, model.pk, "300"))
    assert "超出 1–247" in field_errors(r, "address")


def test_audit_log_is_read_only_in_the_admin(logged_in):
    assert logged_in.get("/admin/audit/auditevent/add/").status_code == 403


def test_thresholds_in_force_are_not_edited_in_the_admin(logged_in, site):
    """The console and the API change them and tell the meter-side meters; the admin would
    change PEMS's copy only, so an existing site's defaults and account's thresholds are shown
    read-only there (a new site's are entered)."""
    point = factories.MeteringPointFactory(meter__gateway__site=site, fee_control="meter-side")
    tenant = factories.TenantFactory(site=site, name="Noodles")
    account = open_account(tenant, [point], actor="setup")
    page = logged_in.get(f"/admin/inventory/site/{site.pk}/change/").content.decode()
    assert 'name="default_alarm1_threshold"' not in page
    assert 'name="name"' in page  # the rest of the site stays editable
    assert (
        'name="default_alarm1_threshold"'
        in logged_in.get("/admin/inventory/site/add/").content.decode()
    )
    before = (site.default_alarm1_threshold, site.default_overdraft_limit)
    logged_in.post(
        f"/admin/inventory/site/{site.pk}/change/",
        {
            "name": site.name,
            "time_zone": site.time_zone,
            "currency": site.currency,
            "locale": site.locale,
            "default_alarm1_threshold": "999",
            "default_overdraft_limit": "500",
        },
    )
    site.refresh_from_db()
    assert (site.default_alarm1_threshold, site.default_overdraft_limit) == before
    page = logged_in.get(f"/admin/accounts/account/{account.pk}/change/").content.decode()
    for field in ("alarm1_threshold", "alarm2_threshold", "overdraft_limit", "reconnect_minimum"):
        assert f'name="{field}"' not in page, field
    assert 'name="keep_power"' in page
