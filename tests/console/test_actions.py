"""Money and control actions: confirmation with a reason, done once, refused cleanly."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from pems.accounts.actions import balance
from pems.accounts.models import Account, Tenant
from pems.audit.models import AuditEvent
from pems.billing import mirror
from pems.billing.models import AccountTariff, SettlementCursor
from pems.control.models import Command, CommandKind
from pems.inventory.models import Meter, MeteringPoint
from pems.ledger import chart
from pems.ledger.models import JournalEntry
from pems.ledger.verify import ledger_problems
from pems.metering.models import PointState
from tests import factories
from tests.console.conftest import open_account


def start(client, url: str) -> str:
    """Open an action's form and return its one-time key."""
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.context["form"]["key"].value()


def preview(client, url: str, **fields):
    response = client.post(url, {**fields, "preview": "1"})
    assert response.status_code == 200, response.content[:300]
    return response


def confirm(client, url: str, **fields):
    return client.post(url, {**fields, "confirm": "1"})


def sell_url(point) -> str:
    return reverse("console:sell", args=[point.pk])


def test_sell_confirms_then_prints_a_receipt_with_the_right_numbers(login, plaza):
    client = login("cashier")
    url = sell_url(plaza.opened)
    key = start(client, url)
    check = preview(client, url, key=key, amount="100.00", channel="cash")
    summary = {str(k): str(v) for k, v in check.context["summary"]}
    assert summary["Service fee"] == "2.00 CNY"
    assert summary["Credited"] == "98.00 CNY"
    assert summary["Balance now"] == "196.00 CNY"
    assert summary["Balance after"] == "294.00 CNY"
    assert balance(plaza.account).amount == Decimal("196.00")  # nothing sold yet
    assert check.context["form"]["reason"].value() == "Counter sale"

    done = confirm(client, url, key=key, amount="100.00", channel="cash", reason="Counter sale")
    assert done.status_code == 302
    sale = JournalEntry.objects.get(kind="recharge", idempotency_key__endswith=key)
    assert done["Location"] == reverse("console:receipt", args=[sale.pk])
    receipt = client.get(done["Location"])
    page = receipt.content.decode()
    r = receipt.context["receipt"]
    assert (r.number, r.amount, r.fee, r.credited) == (
        sale.pk,
        Decimal("100.00"),
        Decimal("2.00"),
        Decimal("98.00"),
    )
    assert r.balance_after == Decimal("294.00")
    assert (r.tenant, r.rooms, r.meters) == ("Lucky Noodles", ["A101"], ["240000000001"])
    assert r.cashier == client.user.username
    assert f'<dd id="receipt-number">{sale.pk}</dd>' in page
    assert '<small id="receipt-title">Electricity sale receipt</small>' in page
    assert "294.00 CNY" in page
    assert balance(plaza.account).amount == Decimal("294.00")
    assert ledger_problems() == []
    MeteringPoint.objects.filter(pk=plaza.opened.pk).update(utility="water")
    water = client.get(done["Location"]).content.decode()
    assert '<small id="receipt-title">Water sale receipt</small>' in water


def test_a_sale_posted_twice_sells_once(login, plaza):
    client = login("cashier")
    url = sell_url(plaza.opened)
    key = start(client, url)
    form = {"key": key, "amount": "50.00", "channel": "cash", "reason": "Counter sale"}
    first = confirm(client, url, **form)
    second = confirm(client, url, **form)  # a double-click, or the browser resubmitting
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert balance(plaza.account).amount == Decimal("196.00") + Decimal("49.00")
    assert JournalEntry.objects.filter(kind="recharge", account=plaza.account).count() == 2


def test_a_sale_resubmitted_from_another_session_still_sells_once(login, plaza, client):
    from django.test import Client

    cashier = login("cashier")
    url = sell_url(plaza.opened)
    key = start(cashier, url)
    form = {"key": key, "amount": "50.00", "channel": "cash", "reason": "Counter sale"}
    other = Client()
    other.force_login(cashier.user)
    assert confirm(cashier, url, **form).status_code == 302
    assert confirm(other, url, **form).status_code == 302  # no session memory: the key decides
    assert balance(plaza.account).amount == Decimal("245.00")


def test_the_reason_is_required_and_nothing_happens_without_it(login, plaza):
    client = login("cashier")
    url = sell_url(plaza.opened)
    key = start(client, url)
    response = confirm(client, url, key=key, amount="50.00", channel="cash", reason="  ")
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert balance(plaza.account).amount == Decimal("196.00")


def test_bad_amounts_are_named_and_change_nothing(login, plaza):
    client = login("cashier")
    url = sell_url(plaza.opened)
    key = start(client, url)
    for amount in ("-5", "0", "abc", "1.234"):
        response = client.post(url, {"key": key, "amount": amount, "channel": "cash"})
        assert response.status_code == 200
        assert "amount" in response.context["form"].errors, amount
    assert balance(plaza.account).amount == Decimal("196.00")


def test_a_cashier_cannot_post_a_trip_and_nothing_changes(login, plaza):
    client = login("cashier")
    url = reverse("console:relay", args=[plaza.opened.pk, "trip"])
    audit_before = AuditEvent.objects.count()
    assert client.get(url).status_code == 403
    response = confirm(client, url, key="k", reason="because")
    assert response.status_code == 403
    assert not Command.objects.filter(kind=CommandKind.TRIP).exists()
    assert AuditEvent.objects.count() == audit_before


def test_an_operator_trips_with_a_reason_that_reaches_the_audit_log(login, plaza):
    client = login("operator")
    url = reverse("console:relay", args=[plaza.opened.pk, "trip"])
    key = start(client, url)
    check = preview(client, url, key=key)
    assert "switches the supply off" in str(dict(check.context["summary"])["What happens"])
    assert not Command.objects.exists()
    done = confirm(client, url, key=key, reason="meter box opened for repair")
    assert done["Location"] == reverse("console:point", args=[plaza.opened.pk])
    (trip,) = Command.objects.filter(kind=CommandKind.TRIP)
    event = AuditEvent.objects.get(action="control.enqueue", object_id=str(trip.pk))
    assert (event.actor, event.reason) == (client.user, "meter box opened for repair")
    confirm(client, url, key=key, reason="meter box opened for repair")
    assert Command.objects.filter(kind=CommandKind.TRIP).count() == 1
    room = client.get(reverse("console:point", args=[plaza.opened.pk])).content.decode()
    assert f'data-command="{trip.pk}"' in room


def test_keep_power_then_resume_prepaid(login, plaza):
    client = login("operator")
    for command, flag in (("keep-power", True), ("resume-prepaid", False)):
        url = reverse("console:relay", args=[plaza.arrears.pk, command])
        key = start(client, url)
        assert confirm(client, url, key=key, reason="night works").status_code == 302
        account = Account.objects.get(links__metering_point=plaza.arrears)
        assert account.keep_power is flag
    kinds = set(Command.objects.filter(point=plaza.arrears).values_list("kind", flat=True))
    assert {CommandKind.KEEP_POWER_ON, CommandKind.RESUME_PREPAID} <= kinds


def test_open_an_account_with_a_new_tenant_and_a_first_purchase(login, plaza):
    client = login("cashier")
    url = reverse("console:open-account", args=[plaza.empty.pk])
    key = start(client, url)
    fields = {
        "key": key,
        "new_tenant": "Tea Corner",
        "mobile": "13800138999",
        "tariff": plaza.tariff.pk,
        "amount": "300.00",
        "channel": "card",
    }
    preview(client, url, **fields)
    done = confirm(client, url, **fields, reason="new lease")
    assert done.status_code == 302
    account = Account.objects.get(tenant__name="Tea Corner")
    assert balance(account).amount == Decimal("294.00")
    assert AccountTariff.objects.filter(account=account, tariff=plaza.tariff).exists()
    assert AuditEvent.objects.filter(action="tenant.create", reason="new lease").exists()
    assert done["Location"].startswith("/console/receipts/")


def test_opening_needs_one_tenant_and_a_valid_mobile(login, plaza):
    client = login("cashier")
    url = reverse("console:open-account", args=[plaza.empty.pk])
    key = start(client, url)
    neither = client.post(url, {"key": key, "channel": "cash"})
    assert "tenant" in neither.context["form"].errors
    bad = client.post(url, {"key": key, "new_tenant": "X", "mobile": "12", "channel": "cash"})
    assert "mobile" in bad.context["form"].errors
    assert not Tenant.objects.filter(name="X").exists()


def test_open_is_refused_where_an_account_is_open(login, plaza):
    client = login("cashier")
    response = client.get(reverse("console:open-account", args=[plaza.opened.pk]))
    assert response.status_code == 409


def test_refund_more_than_the_balance_is_refused_and_changes_nothing(login, plaza):
    client = login("manager")
    url = reverse("console:refund", args=[plaza.opened.pk])
    key = start(client, url)
    fields = {"key": key, "amount": "500.00", "channel": "cash", "reason": "moving out"}
    response = confirm(client, url, **fields)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert balance(plaza.account).amount == Decimal("196.00")
    ok = confirm(client, url, **{**fields, "amount": "96.00"})
    assert ok.status_code == 302
    assert balance(plaza.account).amount == Decimal("100.00")


def test_reverse_a_sale(login, plaza):
    client = login("manager")
    sale = JournalEntry.objects.get(account=plaza.account, kind="recharge")
    url = reverse("console:reverse", args=[plaza.opened.pk, sale.pk])
    key = start(client, url)
    assert confirm(client, url, key=key, reason="wrong room").status_code == 302
    assert balance(plaza.account).amount == Decimal("0.00")
    assert JournalEntry.objects.filter(reverses=sale).count() == 1
    receipt = client.get(reverse("console:receipt", args=[sale.pk])).content.decode()
    assert 'id="receipt-reversed"' in receipt


def test_a_cashier_cannot_reverse(login, plaza):
    sale = JournalEntry.objects.get(account=plaza.account, kind="recharge")
    client = login("cashier")
    url = reverse("console:reverse", args=[plaza.opened.pk, sale.pk])
    assert confirm(client, url, key="k", reason="r").status_code == 403
    assert not JournalEntry.objects.filter(reverses=sale).exists()


def test_close_the_account_refunds_what_is_left(login, plaza):
    client = login("manager")
    url = reverse("console:close-account", args=[plaza.opened.pk])
    key = start(client, url)
    check = preview(client, url, key=key, channel="cash")
    assert "refund 196.00 CNY" in str(dict(check.context["summary"])["Final settlement"])
    assert confirm(client, url, key=key, channel="cash", reason="lease ended").status_code == 302
    plaza.account.refresh_from_db()
    assert plaza.account.status == "closed"
    assert balance(plaza.account).amount == Decimal("0.00")


def test_thresholds_are_validated_and_pushed_to_a_meter_side_meter(login, plaza):
    client = login("operator")
    url = reverse("console:thresholds", args=[plaza.meter_side.pk])
    key = start(client, url)
    bad = client.post(url, {"key": key, "alarm1_threshold": "10", "alarm2_threshold": "30"})
    assert "alarm1_threshold" in bad.context["form"].errors
    fields = {"key": key, "alarm1_threshold": "80", "alarm2_threshold": "30"}
    preview(client, url, **fields)
    assert confirm(client, url, **fields, reason="tenant asked").status_code == 302
    (push,) = Command.objects.filter(kind=CommandKind.SET_ALARMS)
    assert push.payload == {"alarm1": "80.00", "alarm2": "30.00", "overdraft": "0.00"}


def test_set_the_tariff_from_a_date(login, plaza):
    from pems.billing.tariffs import create_tariff
    from tests.console.conftest import FLAT_WITH_FEE

    dearer = create_tariff(
        plaza.site, "Dearer", FLAT_WITH_FEE.replace("1.00", "1.20"), actor="setup"
    )
    client = login("manager")
    url = reverse("console:tariff", args=[plaza.opened.pk])
    key = start(client, url)
    fields = {"key": key, "tariff": dearer.pk, "effective_from": "2030-01-01T00:00"}
    preview(client, url, **fields)
    assert confirm(client, url, **fields, reason="new price list").status_code == 302
    assert AccountTariff.objects.filter(account=plaza.account, tariff=dearer).exists()


def test_replace_a_meter_side_meter_carries_the_credit(login, plaza):
    client = login("operator")
    url = reverse("console:replace", args=[plaza.meter_side.pk])
    key = start(client, url)
    fields = {
        "key": key,
        "new_number": "260000000009",
        "old_total": "1000.000",
        "new_initial_total": "0.000",
        "new_purchase_count": "0",
    }
    missing = client.post(url, {**fields, "preview": "1"})
    assert "old_remaining_credit" in missing.context["form"].errors
    fields["old_remaining_credit"] = "0.00"
    preview(client, url, **fields)
    assert confirm(client, url, **fields, reason="display broken").status_code == 302
    plaza.meter_side.refresh_from_db()
    assert plaza.meter_side.meter.number == "260000000009"
    assert AuditEvent.objects.filter(action="meter.replace", reason="display broken").exists()


def test_a_replacement_the_domain_refuses_is_shown_on_the_form(login, plaza):
    """A final total below what the old meter reported, and an old meter that cannot be
    charged (no tariff in force), come back as the form's refusal; nothing changes."""
    untariffed = open_account(plaza.empty, "No Price Yet")  # no tariff
    SettlementCursor.objects.create(
        account=untariffed, point=plaza.empty, settled_until=timezone.now(), last_total=Decimal(5)
    )
    SettlementCursor.objects.create(
        account=plaza.account,
        point=plaza.opened,
        settled_until=timezone.now(),
        last_total=Decimal("1000.000"),
    )
    client = login("operator")
    for point, old_total, says in [
        (plaza.opened, "999.000", "already reported 1000.000"),
        (plaza.empty, "10.000", "has no tariff"),
    ]:
        url = reverse("console:replace", args=[point.pk])
        key = start(client, url)
        fields = {
            "key": key,
            "new_number": "260000000010",
            "old_total": old_total,
            "new_initial_total": "0.000",
            "new_purchase_count": "0",
        }
        preview(client, url, **fields)
        refused = confirm(client, url, **fields, reason="burnt terminal")
        assert refused.status_code == 200
        assert says in refused.content.decode(), point
        assert MeteringPoint.objects.get(pk=point.pk).meter_id == point.meter_id
    assert not Meter.objects.filter(number="260000000010").exists()
    assert not AuditEvent.objects.filter(action="meter.replace").exists()


@pytest.mark.parametrize(
    "name",
    [
        "sell",
        "refund",
        "recall-credit",
        "take-over-credit",
        "close-account",
        "thresholds",
        "tariff",
    ],
)
def test_actions_on_another_sites_room_are_404(login, plaza, name):
    client = login("manager")
    response = client.post(
        reverse(f"console:{name}", args=[plaza.elsewhere.pk]), {"confirm": "1", "reason": "x"}
    )
    assert response.status_code == 404


def test_the_room_page_live_json(login, plaza):
    PointState.objects.filter(point=plaza.opened).update(active_power=Decimal("2.500"))
    data = login("readonly").get(reverse("console:point-live", args=[plaza.opened.pk])).json()
    assert data["values"]["active_power"] == "2.500"
    assert data["values"]["state"] == "opened"
    assert data["values"]["credit"] == "196.00"


def test_a_readonly_person_sees_the_receipt_but_cannot_sell(login, plaza):
    sale = JournalEntry.objects.get(account=plaza.account, kind="recharge")
    client = login("readonly")
    assert client.get(reverse("console:receipt", args=[sale.pk])).status_code == 200
    assert client.get(sell_url(plaza.opened)).status_code == 403
    other = factories.staff_user("readonly", plaza.other_site)
    client.force_login(other)
    assert client.get(reverse("console:receipt", args=[sale.pk])).status_code == 404


def test_a_meter_side_sale_sends_the_credit_and_the_receipt_counts_it(login, plaza):
    client = login("cashier")
    url = sell_url(plaza.meter_side)
    key = start(client, url)
    check = preview(client, url, key=key, amount="100.00", channel="wechat")
    assert "sent to meter 240000000005" in str(dict(check.context["summary"])["Meter"])
    done = confirm(client, url, key=key, amount="100.00", channel="wechat", reason="Counter sale")
    (push,) = Command.objects.filter(kind=CommandKind.PUSH_CREDIT, point=plaza.meter_side)
    assert push.payload == {"amount": "98.00"}
    receipt = client.get(done["Location"]).context["receipt"]
    assert receipt.credited == Decimal("98.00")
    assert receipt.balance_after == Decimal("98.00")  # on its way to the meter
    assert receipt.channel == "WeChat Pay"


def test_cancel_a_pending_command_but_not_a_sent_one(login, plaza):
    from pems.control import actions as control

    trip = control.enqueue(plaza.opened, CommandKind.TRIP, actor="someone")
    client = login("operator")
    room = client.get(reverse("console:point", args=[plaza.opened.pk])).content.decode()
    assert f'id="cancel-{trip.pk}"' in room
    url = reverse("console:cancel-command", args=[plaza.opened.pk, trip.pk])
    key = start(client, url)
    Command.objects.filter(pk=trip.pk).update(status="sent")
    sent = client.post(url, {"key": key, "preview": "1"})
    assert "already Sent" in str(sent.context["form"].non_field_errors())
    Command.objects.filter(pk=trip.pk).update(status="pending")
    preview(client, url, key=key)
    assert confirm(client, url, key=key, reason="wrong meter").status_code == 302
    trip.refresh_from_db()
    assert (trip.status, trip.failure_reason) == ("failed", "cancelled")
    assert AuditEvent.objects.filter(action="control.cancel", reason="wrong meter").exists()


def test_a_credit_push_is_not_cancelled_from_the_room_page(login, plaza):
    from tests.console.conftest import sell

    sell(plaza.account.__class__.objects.get(links__metering_point=plaza.meter_side), "10", "k1")
    push = Command.objects.get(kind=CommandKind.PUSH_CREDIT)
    url = reverse("console:cancel-command", args=[plaza.meter_side.pk, push.pk])
    assert login("manager").get(url).status_code == 404


def meter_side_holding(plaza, amount: str = "50.00"):
    """The meter-side room's account after a sale its meter has confirmed."""
    from tests.console.conftest import sell

    account = Account.objects.get(links__metering_point=plaza.meter_side)
    sell(account, amount, "meter-side-sale")
    Command.objects.filter(kind=CommandKind.PUSH_CREDIT).update(status="confirmed")
    return account


def test_recall_meter_credit_from_the_room_page_then_close(login, plaza):
    from pems.billing import recall

    account = meter_side_holding(plaza)  # 49.00 on the meter after the 2 % fee
    client = login("manager")
    room = reverse("console:point", args=[plaza.meter_side.pk])
    assert 'id="action-recall-credit"' in client.get(room).content.decode()
    url = reverse("console:recall-credit", args=[plaza.meter_side.pk])
    key = start(client, url)
    summary = dict(preview(client, url, key=key).context["summary"])
    assert str(summary["Credit PEMS sent that the meter holds"]) == "49.00 CNY"
    assert str(summary["Remaining credit the meter last reported"]) == "80.00 CNY"
    assert not Command.objects.filter(kind=CommandKind.CLEAR_CREDIT).exists()  # not yet

    assert confirm(client, url, key=key, reason="lease ended").status_code == 302
    assert confirm(client, url, key=key, reason="lease ended").status_code == 302  # twice: once
    (clear,) = Command.objects.filter(kind=CommandKind.CLEAR_CREDIT)
    assert Command.objects.filter(kind=CommandKind.TRIP, point=plaza.meter_side).count() == 1
    page = client.get(room).content.decode()
    assert 'data-state="pending"' in page
    assert 'id="action-recall-credit"' not in page  # one recall at a time

    # What the collector does once the meter shows 0 (tests/collector/test_recall.py).
    outcome = recall.credit_cleared(recall.lock_recalling(clear), clear, Decimal("30.00"))
    answer = {"credit_before_clear": "30.00", "remaining_credit": "0.00", **outcome}
    Command.objects.filter(pk=clear.pk).update(status="confirmed", answer=answer)
    page = client.get(room).content.decode()
    assert "confirmed: 30.00 CNY back in the prepaid balance" in page
    assert recall.latest_recall(plaza.meter_side, account).returned == Decimal("30.00")

    url = reverse("console:close-account", args=[plaza.meter_side.pk])
    key = start(client, url)
    check = preview(client, url, key=key, channel="cash")
    assert "refund 30.00 CNY" in str(dict(check.context["summary"])["Final settlement"])
    assert confirm(client, url, key=key, channel="cash", reason="lease ended").status_code == 302
    account.refresh_from_db()
    assert account.status == "closed"
    assert ledger_problems() == []


def test_recall_is_refused_with_the_reason_and_changes_nothing(login, plaza):
    meter_side_holding(plaza)
    from pems.billing.actions import sell as billing_sell
    from pems.domain.money import Money

    account = Account.objects.get(links__metering_point=plaza.meter_side)
    billing_sell(account, Money.of("10.00", "CNY"), "cash", "setup", "in-flight")  # not sent yet
    client = login("manager")
    url = reverse("console:recall-credit", args=[plaza.meter_side.pk])
    key = start(client, url)
    preview(client, url, key=key)
    refused = confirm(client, url, key=key, reason="lease ended")
    assert refused.status_code == 200
    assert "still on its way" in str(refused.context["form"].non_field_errors())
    assert not Command.objects.filter(kind=CommandKind.CLEAR_CREDIT).exists()
    assert not Command.objects.filter(kind=CommandKind.TRIP).exists()


def test_recall_needs_the_close_account_right_and_a_meter_side_room(login, plaza):
    meter_side_holding(plaza)
    url = reverse("console:recall-credit", args=[plaza.meter_side.pk])
    assert login("cashier").get(url).status_code == 403
    assert login("operator").get(url).status_code == 403
    server_side = login("manager").get(reverse("console:recall-credit", args=[plaza.opened.pk]))
    assert server_side.status_code == 409
    assert "Only a meter-side meter" in server_side.content.decode()
    assert not Command.objects.filter(kind=CommandKind.CLEAR_CREDIT).exists()


def test_a_failed_recall_shows_its_reason_and_may_be_asked_again(login, plaza):
    from pems.billing import recall

    account = meter_side_holding(plaza)
    clear = recall.recall_meter_credit(account, plaza.meter_side, "setup", "moving out")
    Command.objects.filter(pk=clear.pk).update(
        status="failed", failure_reason="relay not open: trip it before clearing"
    )
    page = login("manager").get(reverse("console:point", args=[plaza.meter_side.pk]))
    html = page.content.decode()
    assert 'data-state="failed"' in html
    assert "failed: relay not open: trip it before clearing" in html
    assert 'id="action-recall-credit"' in html


def test_a_failure_whose_words_were_kept_reads_in_the_readers_language(login, plaza):
    from pems.billing import recall
    from pems.devices.errors import NO_REPLY, ResponseTimeout
    from pems.domain.messages import Message, stored

    account = meter_side_holding(plaza)
    clear = recall.recall_meter_credit(account, plaza.meter_side, "setup", "moving out")
    timeout = ResponseTimeout(Message.of(NO_REPLY, seconds="1.0"), address="240000000005")
    # As the collector's ``defer`` keeps it while it waits to try again.
    Command.objects.filter(pk=clear.pk).update(
        failure_reason=str(timeout), failure_words=stored(timeout.message)
    )
    client = login("manager")
    room = reverse("console:point", args=[plaza.meter_side.pk])
    english = client.get(room).content.decode()
    assert "(no reply within 1.0 s (meter 240000000005))" in english
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(room).content.decode()
    assert "(1.0 秒内无应答（电表 240000000005）)" in chinese
    live = client.get(reverse("console:point-live", args=[plaza.meter_side.pk])).json()
    assert {c["id"]: c["failure"] for c in live["commands"]}[clear.pk] == (
        "1.0 秒内无应答（电表 240000000005）"
    )


def test_take_over_credit_found_on_a_meter_from_the_room_page(login, plaza):
    """PEMS sent 49.00 (a 50.00 sale less the 2 % fee); the meter reports 80.00: 31.00 is
    credit the previous system loaded. A manager takes it over once, never more than that."""
    account = meter_side_holding(plaza)
    assert mirror.reconcile_due() == 1
    client = login("manager")
    room = reverse("console:point", args=[plaza.meter_side.pk])
    page = client.get(room).content.decode()
    assert "the meter holds 31.00 CNY more than PEMS sent (not booked)" in page
    assert 'id="action-take-over-credit"' in page
    url = reverse("console:take-over-credit", args=[plaza.meter_side.pk])
    assert client.get(url).context["form"]["amount"].value() == Decimal("31.00")

    key = start(client, url)
    preview(client, url, key=key, amount="40.00")
    refused = confirm(client, url, key=key, amount="40.00", reason="old system")
    assert refused.status_code == 200
    assert "holds only 31.00 more than PEMS sent" in str(refused.context["form"].non_field_errors())
    assert not JournalEntry.objects.filter(kind="meter-takeover").exists()

    summary = dict(preview(client, url, key=key, amount="31.00").context["summary"])
    assert str(summary["Beyond what PEMS sent"]) == "31.00 CNY"
    for _ in range(2):  # a resubmitted form takes over once
        assert confirm(client, url, key=key, amount="31.00", reason="old system").status_code == 302
    (entry,) = JournalEntry.objects.filter(kind="meter-takeover")
    assert (entry.actor_label, entry.reason) == (client.user.username, "old system")
    assert chart.meter_credit(account, plaza.meter_side).balance == Decimal("80.00")
    assert chart.taken_over(plaza.site).balance == Decimal("-31.00")
    page = client.get(room).content.decode()
    assert "more than PEMS sent" not in page
    assert 'id="action-take-over-credit"' not in page
    assert ledger_problems() == []


def test_take_over_needs_the_right_and_credit_beyond_what_pems_sent(login, plaza):
    meter_side_holding(plaza, "81.64")  # 80.00 after the fee: what the meter reports
    mirror.reconcile_due()
    url = reverse("console:take-over-credit", args=[plaza.meter_side.pk])
    assert login("cashier").get(url).status_code == 403
    nothing = login("manager").get(url)
    assert nothing.status_code == 409
    assert "no credit on this meter beyond what it sent" in nothing.content.decode()
    server_side = login("manager").get(reverse("console:take-over-credit", args=[plaza.opened.pk]))
    assert server_side.status_code == 409
