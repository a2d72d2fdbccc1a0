"""Each model's total register range, worked out from its register map (devices.totals)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pems.devices.records import MODEL_CODES
from pems.devices.totals import total_wrap


@pytest.mark.parametrize(
    ("model", "wrap"),
    [
        ("DTSY1352-NK", "42949672.96"),  # u32 in 0.01 kWh: 2^32 / 100
        ("DDSY1352-NK", "42949672.96"),
        ("ADF300", "42949672.96"),
        ("WATER-VALVE", "4294967.296"),  # u32 in 0.001 m3
        ("DLT645-GENERIC", "1000000.00"),  # four BCD bytes, two decimals: XXXXXX.XX kWh
    ],
)
def test_the_range_follows_from_the_total_fields_encoding(model, wrap):
    assert total_wrap(model) == Decimal(wrap)


def test_every_model_the_drivers_know_has_a_range_and_an_unknown_one_none():
    assert all((total_wrap(model) or 0) > 0 for model in MODEL_CODES)
    assert total_wrap("NO-SUCH-MODEL") is None
