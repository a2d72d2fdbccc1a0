"""Roles grant capabilities; scope limits rows to the person's sites."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied

from pems.access.roles import Capability
from pems.access.scope import can, require, scoped, visible_sites
from pems.accounts.models import Account
from pems.inventory.models import Meter, Site
from tests import factories


@pytest.fixture
def two_sites(db):
    return factories.SiteFactory(name="North"), factories.SiteFactory(name="South")


def test_a_scoped_operator_sees_only_their_site(two_sites):
    north, south = two_sites
    mine = factories.MeterFactory(gateway=factories.GatewayFactory(site=north))
    factories.MeterFactory(gateway=factories.GatewayFactory(site=south))
    operator = factories.staff_user("operator", north)
    assert list(visible_sites(operator)) == [north]
    assert list(scoped(Meter.objects.all(), operator)) == [mine]


def test_all_sites_and_superusers_see_everything(two_sites):
    manager = factories.staff_user("manager", all_sites=True)
    root = get_user_model().objects.create_superuser("root", password="x-Secret-42")
    assert set(scoped(Site.objects.all(), manager)) == set(two_sites)
    assert set(visible_sites(root)) == set(two_sites)


def test_a_login_without_a_role_sees_nothing(two_sites):
    nobody = get_user_model().objects.create_user("nobody", password="x-Secret-42")
    factories.AccountFactory(tenant=factories.TenantFactory(site=two_sites[0]))
    assert not scoped(Account.objects.all(), nobody).exists()
    assert not can(nobody, Capability.VIEW)


@pytest.mark.parametrize(
    ("role", "capability", "allowed"),
    [
        ("cashier", Capability.SELL, True),
        ("cashier", Capability.CONTROL, False),
        ("cashier", Capability.REFUND, False),
        ("operator", Capability.CONTROL, True),
        ("operator", Capability.SELL, False),
        ("readonly", Capability.VIEW, True),
        ("readonly", Capability.EXPORT, True),
        ("readonly", Capability.SELL, False),
        ("manager", Capability.REFUND, True),
        ("manager", Capability.STAFF, False),
        ("admin", Capability.STAFF, True),
        # A site's defaults extend credit to every tenant: managers and administrators only.
        ("manager", Capability.SITE_DEFAULTS, True),
        ("admin", Capability.SITE_DEFAULTS, True),
        ("operator", Capability.SITE_DEFAULTS, False),
        ("cashier", Capability.SITE_DEFAULTS, False),
        ("readonly", Capability.SITE_DEFAULTS, False),
        ("operator", Capability.THRESHOLDS, True),
    ],
)
def test_roles_grant_capabilities(two_sites, role, capability, allowed):
    user = factories.staff_user(role, two_sites[0])
    assert can(user, capability, two_sites[0]) is allowed


def test_a_capability_is_refused_at_another_site(two_sites):
    north, south = two_sites
    cashier = factories.staff_user("cashier", north)
    require(cashier, Capability.SELL, north)
    with pytest.raises(PermissionDenied, match="sell credit"):
        require(cashier, Capability.SELL, south.pk)


def test_an_unknown_model_has_no_site_path(two_sites):
    user = factories.staff_user("readonly", two_sites[0])
    with pytest.raises(LookupError, match="no site path"):
        scoped(get_user_model().objects.all(), user)


def test_every_site_path_leads_to_the_site_and_the_query_runs(two_sites):
    from django.apps import apps

    from pems.access.scope import SITE_PATHS
    from pems.inventory.models import Site

    user = factories.staff_user("readonly", two_sites[0])
    for label, path in SITE_PATHS.items():
        model = apps.get_model(label)
        reached = model
        for part in [] if path == "pk" else path.split("__"):
            reached = reached._meta.get_field(part).related_model
        assert reached is Site, f"{label}: {path} ends at {reached._meta.label}"
        list(scoped(model.objects.all(), user)[:1])  # the database accepts the lookup
