"""Where each model's total register wraps back to zero, read from its register map.

A total register counts up to the largest value its encoding holds, then starts
again from zero: a Modbus ``u32`` in 0.01 kWh wraps at 42,949,672.96 kWh, a
DL/T 645 ``XXXXXX.XX`` at 1,000,000.00 kWh. The figure follows from the map
(data a field engineer may correct), so it is worked out here, not restated.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from pems.devices.dlt645_items import ITEMS
from pems.devices.dlt645_meter import DLT645_MODEL
from pems.devices.maps import MODBUS_MAPS

#: The live-block field each Modbus model reports its total in.
_TOTAL_FIELDS = ("energy_total", "volume")
#: The DL/T 645 item whose first value is the total (what the driver reads).
_DLT645_TOTAL = "forward_active_block"


@cache
def total_wrap(model: str) -> Decimal | None:
    """One past the largest total ``model`` can report (in its unit); None for a model
    without a register map (no range is known: no fall is taken for a wrap)."""
    if model == DLT645_MODEL:
        item = ITEMS[_DLT645_TOTAL]
        return Decimal(10 ** (2 * item.size)).scaleb(-item.decimals)  # two BCD digits a byte
    if model not in MODBUS_MAPS:
        return None
    live = MODBUS_MAPS[model].block("live")
    for name in _TOTAL_FIELDS:
        try:
            field = live.field(name)
        except KeyError:
            continue
        _low, high = field.type.raw_range
        return Decimal(high + 1).scaleb(field.scale)
    return None
