"""Named situations for billing tests: tariffs, readings, meter-side and server-side tenants."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pems.accounts import actions as ledger_actions
from pems.billing.models import Tariff
from pems.billing.replacement import FinalReading, Replacement, replace_meter
from pems.billing.tariffs import assign_tariff, create_tariff
from pems.metering.models import IntervalReading, PointState
from tests.factories import MeteringPointFactory, SiteFactory, TenantFactory

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def flat_tariff_document(
    price: str = "1.00", effective_from: str = "2026-01-01", extra: str = ""
) -> str:
    return f"""
name = "Flat"
currency = "CNY"
unit = "kWh"
timezone = "Asia/Shanghai"

[[versions]]
id = "v1"
effective_from = {effective_from}
prices = {{ flat = {price} }}
{extra}
"""


def server_side_tenant(
    price: str = "1.00", fee_control: str = "server-side", site=None, **thresholds
):
    """An open account on one point, priced flat from 2026-01-01, opened before T0."""
    site = site or SiteFactory()
    point = MeteringPointFactory(meter__gateway__site=site, fee_control=fee_control)
    account = ledger_actions.open_account(
        TenantFactory(site=site), [point], actor="test", **thresholds
    )
    account.links.update(attached_at=T0 - dt.timedelta(days=1))
    tariff = Tariff.objects.filter(site=site, name=f"Flat {price}").first() or create_tariff(
        site, f"Flat {price}", flat_tariff_document(price), actor="test"
    )
    assign_tariff(account, tariff, dt.datetime(2026, 1, 1, tzinfo=UTC), actor="test")
    return account, point


def reading(point, minutes: int, total: str, **fields) -> IntervalReading:
    """The meter total ``minutes`` after T0 (readings every 15 minutes in these tests)."""
    at = T0 + dt.timedelta(minutes=minutes)
    return IntervalReading.objects.create(
        point=point,
        interval_start=at - dt.timedelta(minutes=at.minute % 15),
        read_at=at,
        energy_total=Decimal(total),
        **fields,
    )


def relay_reading(point, closed: bool, at: dt.datetime, credit: str | None = None) -> PointState:
    state, _ = PointState.objects.update_or_create(
        point=point,
        defaults={
            "relay_closed": closed,
            "read_at": at,
            "energy_total": Decimal("0"),
            "remaining_credit": None if credit is None else Decimal(credit),
        },
    )
    return state


def confirmed_sales(account, count: int, amount: str = "10.00") -> list:
    """``count`` meter-side sales whose pushes the meter took (counts 1…count)."""
    from pems.billing import actions
    from pems.control.models import Command
    from tests.ledger.scenarios import cny

    pushes = []
    for n in range(count):
        _, push = actions.sell(account, cny(amount), "cash", "cashier", f"confirmed-{n}")
        Command.objects.filter(pk=push.pk).update(status="confirmed", completed_at=T0)
        pushes.append(push)
    return pushes


def swap_meter_side(point, number: str, remaining: str) -> Replacement:
    """An electrician's exchange, an hour after T0, of a meter-side meter holding ``remaining``."""
    return replace_meter(
        point,
        number,
        FinalReading(Decimal("20.000"), remaining_credit=Decimal(remaining)),
        Decimal("0.000"),
        "electrician",
        "meter swapped",
        at=T0 + dt.timedelta(hours=1),
    )
