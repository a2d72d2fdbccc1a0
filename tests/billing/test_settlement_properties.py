"""Property: through any mix of readings, settlement runs, offline gaps, meter
replacements and misreads (a meter answering zero for a reading), the money charged
equals the energy consumed times the price — exact up to the one carried sub-cent
residue (never a kWh lost or doubled)."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pems.accounts.actions import balance
from pems.billing.replacement import FinalReading, replace_meter
from pems.billing.settlement import SettlementBlocked, settle_point
from pems.ledger.verify import ledger_problems
from tests.billing.scenarios import T0, reading, server_side_tenant

PRICE = Decimal("0.6632")
kwh = st.integers(min_value=0, max_value=50_000).map(lambda n: Decimal(n).scaleb(-3))
step = st.one_of(
    st.tuples(st.just("read"), kwh),
    st.tuples(st.just("settle"), st.just(Decimal(0))),
    st.tuples(st.just("replace"), kwh),  # the new meter's initial total
    st.tuples(st.just("misread"), st.just(Decimal(0))),
)


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_every_kwh_is_charged_exactly_once(steps):
    account, point = server_side_tenant(str(PRICE))
    total, consumed, minutes = Decimal("1000.000"), Decimal(0), 0
    reading(point, minutes, str(total))
    settle_point(account, point)  # baseline
    for n, (kind, value) in enumerate(steps):
        minutes += 15
        if kind == "read":
            total += value
            consumed += value
            reading(point, minutes, str(total))
        elif kind == "misread":
            reading(point, minutes, "0.000")
        elif kind == "settle":
            with contextlib.suppress(SettlementBlocked):  # a misread last: it waits
                settle_point(account, point)
        else:  # the old meter's final reading adds a little, the new one starts at `value`
            total += Decimal("0.125")
            consumed += Decimal("0.125")
            replace_meter(
                point,
                f"7{account.pk:05d}{n:06d}",
                FinalReading(total),
                value,
                "e",
                "swap",
                at=T0 + dt.timedelta(minutes=minutes),
            )
            point.refresh_from_db()
            total = value
    minutes += 15
    reading(point, minutes, str(total))
    while settle_point(account, point) is not None:
        pass
    charged = -balance(account).amount
    assert abs(charged - consumed * PRICE) <= Decimal("0.005")
    assert ledger_problems() == []
