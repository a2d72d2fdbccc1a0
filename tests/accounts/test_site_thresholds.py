"""A site's default thresholds: changed by one audited action, refused by field, writing nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from pems.accounts.actions import AccountActionError, close_account, set_site_thresholds
from pems.audit.models import AuditEvent
from pems.inventory.models import Site
from tests.factories import AccountFactory, SiteFactory, TenantFactory

pytestmark = pytest.mark.django_db

D = Decimal
NEW = {
    "default_alarm1_threshold": D("80.00"),
    "default_alarm2_threshold": D("30.00"),
    "default_overdraft_limit": D("15.00"),
    "default_reconnect_minimum": D("5.00"),
}


def defaults(site: Site) -> tuple[Decimal, ...]:
    """The site's four defaults as stored."""
    site = Site.objects.get(pk=site.pk)
    return tuple(getattr(site, name) for name in NEW)


def refused(site: Site, reason: str = "new season", **values) -> dict[str, list[str]]:
    """The refusal's messages by field; nothing (site row, audit) may have been written."""
    before, events = defaults(site), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        set_site_thresholds(site, "boss", reason, **values)
    assert defaults(site) == before
    assert AuditEvent.objects.count() == events
    return excinfo.value.message_dict


def test_the_defaults_are_saved_and_audited_with_before_and_after():
    site = SiteFactory()
    saved = set_site_thresholds(site, "boss", "tenants asked for an earlier warning", **NEW)

    assert defaults(site) == tuple(NEW.values())
    assert saved.changed == frozenset(NEW)
    event = AuditEvent.objects.get(action="site.thresholds")
    assert (event.object_type, event.object_id) == ("inventory.site", str(site.pk))
    assert (event.actor_label, event.reason) == ("boss", "tenants asked for an earlier warning")
    assert event.changes == {
        "default_alarm1_threshold": ["50.00", "80.00"],
        "default_alarm2_threshold": ["20.00", "30.00"],
        "default_overdraft_limit": ["0.00", "15.00"],
        "default_reconnect_minimum": ["0.00", "5.00"],
    }


def test_only_the_defaults_given_change_and_only_changed_ones_are_reported():
    site = SiteFactory()
    saved = set_site_thresholds(
        site,
        "boss",
        "more overdraft",
        default_overdraft_limit=D("20"),
        default_alarm2_threshold=D("20.00"),
    )
    assert defaults(site) == (D("50.00"), D("20.00"), D("20.00"), D("0.00"))
    assert saved.changed == {"default_overdraft_limit"}
    event = AuditEvent.objects.get(action="site.thresholds")
    assert event.changes == {"default_overdraft_limit": ["0.00", "20.00"]}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        (
            {"default_alarm1_threshold": D("20.00")},
            "default_alarm1_threshold",
            "Alarm 1 must be above alarm 2",
        ),
        (
            {"default_alarm1_threshold": D("10.00"), "default_alarm2_threshold": D("10.00")},
            "default_alarm1_threshold",
            "Alarm 1 must be above alarm 2",
        ),
        ({"default_overdraft_limit": D("-1.00")}, "default_overdraft_limit", "greater than or"),
        ({"default_reconnect_minimum": D("1.005")}, "default_reconnect_minimum", "decimal places"),
        ({"default_alarm2_threshold": None}, "default_alarm2_threshold", "cannot be null"),
    ],
)
def test_bad_values_are_refused_by_field_and_write_nothing(values, field, message):
    site = SiteFactory()
    errors = refused(site, **values)
    assert list(errors) == [field]
    assert message in errors[field][0]


def test_an_empty_reason_is_refused_by_its_field():
    site = SiteFactory()
    errors = refused(site, reason="  ", **NEW)
    assert errors == {"reason": ["Say why: the reason is kept in the audit log."]}


def test_a_field_that_is_not_a_site_default_is_refused_by_name():
    site = SiteFactory()
    before = defaults(site), AuditEvent.objects.count()
    with pytest.raises(AccountActionError, match=r"Not a site default: currency, name\."):
        set_site_thresholds(site, "boss", "tidy", name="Renamed", currency="USD", **NEW)
    with pytest.raises(AccountActionError, match=r"Not a site default: alarm1_threshold\."):
        set_site_thresholds(site, "boss", "tidy", alarm1_threshold=D("70"))
    assert (defaults(site), AuditEvent.objects.count()) == before
    assert Site.objects.get(pk=site.pk).name == site.name


def test_accounts_without_their_own_value_follow_the_new_default_the_others_keep_theirs():
    site = SiteFactory()
    follows = AccountFactory(tenant=TenantFactory(site=site))
    own = AccountFactory(
        tenant=TenantFactory(site=site), alarm1_threshold=D("100.00"), overdraft_limit=D("0.00")
    )
    set_site_thresholds(site, "boss", "new season", **NEW)

    follows.refresh_from_db()
    own.refresh_from_db()
    assert follows.effective_thresholds() == {
        "alarm1": D("80.00"),
        "alarm2": D("30.00"),
        "overdraft": D("15.00"),
        "reconnect": D("5.00"),
    }
    assert own.effective_thresholds() == {
        "alarm1": D("100.00"),
        "alarm2": D("30.00"),
        "overdraft": D("0.00"),
        "reconnect": D("5.00"),
    }


def test_a_default_alarm_may_not_cross_an_alarm_an_open_account_sets_itself():
    site = SiteFactory()
    own_alarm2 = AccountFactory(
        tenant=TenantFactory(site=site, name="Tea House"), alarm2_threshold=D("40.00")
    )
    AccountFactory(tenant=TenantFactory(site=site, name="Book Corner"), alarm1_threshold=D("25.00"))

    errors = refused(site, default_alarm1_threshold=D("40.00"))
    assert errors == {
        "default_alarm1_threshold": [
            "Alarm 1 must stay above the alarm 2 these accounts set themselves: "
            f"Tea House (#{own_alarm2.pk}: 40.00)."
        ]
    }
    errors = refused(site, default_alarm2_threshold=D("25.00"))
    assert "Book Corner" in errors["default_alarm2_threshold"][0]
    assert list(errors) == ["default_alarm2_threshold"]

    # A closed account's own alarm no longer counts.
    close_account(own_alarm2, "boss", "moved out")
    set_site_thresholds(site, "boss", "new season", default_alarm1_threshold=D("40.00"))
    assert defaults(site)[0] == D("40.00")
