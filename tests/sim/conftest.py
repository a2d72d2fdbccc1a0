"""Fixtures for simulator tests: a test master key, a manual clock, served sites."""

from __future__ import annotations

import datetime as dt

import pytest

from pems.devices.security import MasterKey
from pems.sim.clock import ManualClock

TEST_KEY = "00112233445566778899AABBCCDDEEFF"
#: Monday 2026-03-02 00:00 in Shanghai (a valley hour).
MIDNIGHT_SHANGHAI = dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey.parse(TEST_KEY)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MIDNIGHT_SHANGHAI)
