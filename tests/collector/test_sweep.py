"""Sweeps against the simulated plaza over real sockets: exact values, offline, garbage, shards."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

import pytest

from pems.metering.models import (
    DailyFreeze,
    EventKind,
    GatewayCommStats,
    IntervalReading,
    MeterCommStats,
    MeterEvent,
    PointState,
)
from tests.collector.conftest import SimThread, collect, install

pytestmark = pytest.mark.django_db(transaction=True)
CENT = Decimal("0.01")


def test_a_plaza_sweep_stores_exactly_what_every_meter_reports(plaza_sim: SimThread) -> None:
    points = install(plaza_sim)
    assert len(points) == 242

    _, summary = collect()

    assert (summary.points, summary.read, summary.offline) == (242, 242, 0)
    states = {s.point_id: s for s in PointState.objects.all()}
    assert len(states) == 242
    for (code, address), point in points.items():
        snap = plaza_sim.run(lambda c=code, a=address: plaza_sim.meter(c, a).snapshot())
        state = states[point.pk]
        assert state.online
        assert state.read_at is not None
        assert state.energy_total == snap.energy_total.quantize(CENT, ROUND_FLOOR)
        assert [state.energy_sharp, state.energy_peak, state.energy_flat, state.energy_valley] == [
            e.quantize(CENT, ROUND_FLOOR) for e in snap.energy_tou
        ]
        assert state.remaining_credit == snap.credit
        assert state.purchase_count == snap.purchase_count
        assert state.relay_closed == snap.relay_closed
        assert (state.alarm1, state.alarm2, state.arrears) == (
            snap.alarm1,
            snap.alarm2,
            snap.arrears,
        )
    assert IntervalReading.objects.count() == 242
    assert DailyFreeze.objects.count() == 242
    assert MeterCommStats.objects.filter(requests=1, failures=0).count() == 242
    assert sum(GatewayCommStats.objects.values_list("requests", flat=True)) == 242


def test_a_second_sweep_in_the_same_interval_adds_no_interval_row(plaza_sim: SimThread) -> None:
    install(plaza_sim)
    collect(sweeps=2)
    assert IntervalReading.objects.count() == 242
    assert MeterCommStats.objects.filter(requests=2).count() == 242
    assert not MeterEvent.objects.exists()


def test_a_dead_meter_goes_offline_and_comes_back(plaza_sim: SimThread) -> None:
    points = install(plaza_sim)
    dead = points[("GW-S3", 7)]
    plaza_sim.meter("GW-S3", 7).faults.dead = True

    collect(sweeps=3, backoff_base=0.001)

    state = PointState.objects.get(point=dead)
    assert not state.online
    assert state.read_at is None
    assert MeterEvent.objects.filter(point=dead, kind=EventKind.OFFLINE).count() == 1
    assert PointState.objects.filter(online=True).count() == 241
    stats = MeterCommStats.objects.get(meter=dead.meter)
    assert stats.timeouts == stats.failures >= 2

    plaza_sim.meter("GW-S3", 7).faults.dead = False
    collect(sweeps=1, backoff_base=0.01)

    state.refresh_from_db()
    assert state.online
    assert state.read_at is not None
    assert state.offline_since is None
    assert MeterEvent.objects.filter(point=dead, kind=EventKind.ONLINE).count() == 1


def test_garbled_replies_are_counted_and_the_bus_carries_on(plaza_sim: SimThread) -> None:
    points = install(plaza_sim)
    plaza_sim.meter("GW-S1", 4).faults.garbled = True

    _, summary = collect()

    assert summary.read == 241
    garbled = MeterCommStats.objects.get(meter=points[("GW-S1", 4)].meter)
    assert garbled.failures == 1
    assert garbled.last_error
    s1 = [p for (code, _), p in points.items() if code == "GW-S1"]
    assert PointState.objects.filter(point__in=s1, read_at__isnull=False).count() == len(s1) - 1


def test_two_shards_together_read_every_meter_exactly_once(plaza_sim: SimThread) -> None:
    install(plaza_sim)
    _, first = collect(shard=(1, 2))
    _, second = collect(shard=(2, 2))

    assert first.read + second.read == 242
    assert first.buses + second.buses == 9
    assert first.buses
    assert second.buses
    assert MeterCommStats.objects.filter(requests=1).count() == 242


def test_a_purchase_pems_did_not_send_raises_a_mismatch(plaza_sim: SimThread) -> None:
    points = install(plaza_sim)
    collect()
    meter = plaza_sim.meter("GW-S2", 8)
    count = plaza_sim.run(meter.snapshot).purchase_count
    plaza_sim.run(lambda: meter.purchase(Decimal("10.00"), count + 1, mac_valid=True))

    collect()

    event = MeterEvent.objects.get(kind=EventKind.PURCHASE_MISMATCH)
    assert event.point == points[("GW-S2", 8)]
    assert event.after == {"meter": str(count + 1)}


def test_bad_collect_flags_are_refused_with_a_message() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="K must be between 1 and N"):
        call_command("collect", "--once", "--shard", "3/2")
    with pytest.raises(CommandError, match="interval"):
        call_command("collect", "--once", "--interval", "7")


def test_a_meter_clock_drifting_away_raises_one_event() -> None:
    from pems.sim.clock import ScaledClock
    from pems.siteplan import plaza

    sim = SimThread(plaza(), clock=ScaledClock())  # meters keep real time
    try:
        points = install(sim)
        collect()
        assert not MeterEvent.objects.filter(kind=EventKind.CLOCK_DRIFT).exists()
        sim.run(lambda: setattr(sim.meter("GW-G", 3).faults, "clock_drift_s", 900))
        collect(sweeps=2)
    finally:
        sim.stop()

    event = MeterEvent.objects.get(kind=EventKind.CLOCK_DRIFT)
    assert event.point == points[("GW-G", 3)]
    assert 890 <= int(event.after["skew_s"]) <= 910
