"""Recalling a meter-side meter's credit through the API: the same action as the console,
within the caller's sites and rights, refused cleanly, replayed once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pems.billing import recall
from pems.control.models import Command, CommandKind
from tests import factories
from tests.api.conftest import Tenancy, errors_of, tenancy, world


@pytest.fixture
def shop(db) -> Tenancy:
    """A meter-side tenant whose meter has confirmed a sale of 100.00."""
    found = tenancy("East", fee_control="meter-side")
    Command.objects.filter(kind=CommandKind.PUSH_CREDIT).update(status="confirmed")
    return found


def url(account) -> str:
    return f"/api/accounts/{account.pk}/meter-credit-recall"


BODY = {"reason": "moving out", "idempotency_key": "r1"}


def test_a_manager_recalls_once_and_follows_it_to_the_amount_returned(shop, as_user):
    manager = as_user(factories.staff_user("manager", shop.site))
    queued = manager.post(url(shop.account), BODY)
    assert queued.status_code == 201, queued.json()
    body = queued.json()
    assert (body["state"], body["point"], body["held"], body["returned"]) == (
        "pending",
        shop.point.pk,
        None,
        None,
    )
    replay = manager.post(url(shop.account), BODY)
    assert (replay.status_code, replay.json()["command"]) == (200, body["command"])
    assert Command.objects.filter(kind=CommandKind.CLEAR_CREDIT).count() == 1
    assert Command.objects.filter(kind=CommandKind.TRIP).count() == 1

    clear = Command.objects.get(pk=body["command"])
    outcome = recall.credit_cleared(recall.lock_recalling(clear), clear, Decimal("61.50"))
    answer = {"credit_before_clear": "61.50", "remaining_credit": "0.00", **outcome}
    Command.objects.filter(pk=clear.pk).update(status="confirmed", answer=answer)
    done = manager.get(url(shop.account)).json()
    assert (done["state"], done["held"], done["returned"], done["drift"]) == (
        "confirmed",
        "61.50",
        "61.50",
        "0.00",
    )


def test_another_sites_manager_cannot_see_or_recall_and_nothing_changes(shop, as_user):
    stranger = as_user(factories.staff_user("manager", tenancy("West").site))
    before = world()
    refused = stranger.post(url(shop.account), BODY)
    assert refused.status_code == 404
    assert stranger.get(url(shop.account)).status_code == 404
    assert world() == before


def test_a_cashier_may_not_recall_and_nothing_changes(shop, as_user):
    cashier = as_user(factories.staff_user("cashier", shop.site))
    before = world()
    assert cashier.post(url(shop.account), BODY).status_code == 403
    assert world() == before


def test_a_point_outside_the_callers_sites_is_not_found(shop, as_user):
    west = tenancy("West", fee_control="meter-side")
    manager = as_user(factories.staff_user("manager", shop.site))
    before = world()
    refused = manager.post(url(shop.account), {**BODY, "point": west.point.pk})
    assert refused.status_code == 422
    assert errors_of(refused)[0][0] == "point"
    assert world() == before


def test_a_server_side_account_has_nothing_to_recall(as_user, db):
    north = tenancy("North")
    manager = as_user(factories.staff_user("manager", north.site))
    before = world()
    refused = manager.post(url(north.account), BODY)
    assert refused.status_code == 409
    assert errors_of(refused) == [("point", "The account pays for no meter-side point.")]
    named = manager.post(url(north.account), {**BODY, "point": north.point.pk})
    assert named.status_code == 409
    assert "is not meter-side" in errors_of(named)[0][1]
    assert world() == before


def test_a_recall_while_a_push_is_on_its_way_is_refused(shop, as_user):
    Command.objects.filter(kind=CommandKind.PUSH_CREDIT).update(status="sent")
    manager = as_user(factories.staff_user("manager", shop.site))
    before = world()
    refused = manager.post(url(shop.account), BODY)
    assert refused.status_code == 409
    ((field, message),) = errors_of(refused)
    assert (field, "still on its way" in message) == ("point", True)
    assert world() == before
