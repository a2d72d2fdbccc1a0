"""Every model and gateway protocol of the `mixed` site, and a gateway that goes away."""

from __future__ import annotations

import pytest

from pems.metering.models import EventKind, GatewayCommStats, MeterEvent, PointState
from tests.collector.conftest import SimThread, collect, install

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_model_on_every_protocol_is_read(mixed_sim: SimThread) -> None:
    points = install(mixed_sim, name="Mixed")
    protocols = {g.spec.protocol.value for g in mixed_sim.site.gateways}
    assert protocols == {"modbus-rtu-over-tcp", "modbus-tcp", "dlt645-over-tcp"}

    _, summary = collect(timeout=0.5)

    assert summary.read == len(points), summary
    for (code, address), point in points.items():
        snap = mixed_sim.run(lambda c=code, a=address: mixed_sim.meter(c, a).snapshot())
        state = PointState.objects.get(point=point)
        assert state.relay_closed == snap.relay_closed, (code, address)
        assert abs(state.energy_total - snap.energy_total) < 1, (code, address)


def test_a_gateway_that_goes_down_marks_its_points_offline_and_recovers(
    plaza_sim: SimThread,
) -> None:
    points = install(plaza_sim)
    s4 = [p for (code, _), p in points.items() if code == "GW-S4"]
    plaza_sim.run(lambda: plaza_sim.site.gateway("GW-S4").set_down(True))

    _, summary = collect(sweeps=3, gateway_backoff_base=0.01, gateway_backoff_max=0.02)

    assert summary.read == 242 - len(s4)
    assert PointState.objects.filter(point__in=s4, online=False).count() == len(s4)
    assert PointState.objects.filter(online=True).count() == 242 - len(s4)
    stats = GatewayCommStats.objects.get(gateway__name="GW-S4")
    assert stats.connect_failures >= 2, stats.last_error

    plaza_sim.run(lambda: plaza_sim.site.gateway("GW-S4").set_down(False))
    collect()

    assert PointState.objects.filter(online=True).count() == 242
    assert MeterEvent.objects.filter(kind=EventKind.ONLINE).count() == len(s4)


@pytest.mark.parametrize(
    ("gateway", "address"),
    [("GW-A", 2), ("GW-B", 1), ("GW-B", 2), ("GW-D", 123456781012)],
    ids=["rtu-ddsy", "modbus-tcp-adf300", "modbus-tcp-adf300-circuit-2", "dlt645"],
)
def test_trip_and_credit_push_on_every_protocol(
    mixed_sim: SimThread, master_key_env: None, gateway: str, address: int
) -> None:
    from decimal import Decimal

    from pems.control import actions
    from pems.control.models import Command, CommandKind, CommandStatus

    points = install(mixed_sim, name="Mixed")
    meter = mixed_sim.meter(gateway, address)
    before = mixed_sim.run(meter.snapshot)
    actions.enqueue(points[(gateway, address)], CommandKind.PUSH_CREDIT, {"amount": "20.00"})
    actions.enqueue(points[(gateway, address)], CommandKind.TRIP)

    collect(sweeps=2, timeout=0.5, min_period=0.4, command_poll_seconds=0.05)

    after = mixed_sim.run(meter.snapshot)
    statuses = list(Command.objects.order_by("id").values_list("status", "failure_reason"))
    assert statuses == [(CommandStatus.CONFIRMED, "")] * 2
    assert after.purchase_count == before.purchase_count + 1
    assert after.credit == before.credit + Decimal("20.00")
    assert after.relay_closed is False
