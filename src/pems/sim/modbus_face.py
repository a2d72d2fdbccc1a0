"""A simulated meter's Modbus face: PDUs in, PDUs out, through pems.devices' register maps.

The register layout is never restated here: reads render the meter's
snapshot into the blocks of its model's :class:`RegisterMap` (field names and
status-bit positions come from the map files), and writes are decoded with
the same fields. Requests outside every block answer exception 2, as a meter
rejects an illegal data address.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal

from pems.devices.maps import get_map
from pems.devices.registers import Block, Field, RegisterMap
from pems.devices.security import MasterKey, verify_purchase_mac
from pems.sim.clock import from_ms, to_ms
from pems.sim.meter import MeterSnapshot, SimMeter
from pems.sim.profile import PROFILE

READ_HOLDING = 0x03
WRITE_MULTIPLE = 0x10
ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03
DEVICE_FAILURE = 0x04
MAX_READ = 125
SITE_TZ = dt.timezone(dt.timedelta(milliseconds=PROFILE.utc_offset_ms))
VALVE_OPEN, VALVE_CLOSE = 1, 2
CLOCK_FIELDS = (
    "clock_year",
    "clock_month",
    "clock_day",
    "clock_hour",
    "clock_minute",
    "clock_second",
)

log = logging.getLogger(__name__)


def exception(function: int, code: int) -> bytes:
    """A Modbus exception PDU."""
    return bytes((function | 0x80, code))


class ModbusFace:
    """Answers Modbus PDUs for meters of any model that has a register map."""

    def __init__(self, master_key: MasterKey, key_version: int = 1) -> None:
        self._master_key = master_key
        self._key_version = key_version

    def handle(self, meter: SimMeter, pdu: bytes) -> bytes:
        """One request PDU → its response PDU (normal or exception)."""
        try:
            return self._handle(meter, pdu)
        except Exception:  # a simulator bug must not kill the bus: answer as a failed device
            log.exception("simulated meter %s failed on PDU %s", meter.meter_number, pdu.hex())
            return exception(pdu[0] if pdu else 0, DEVICE_FAILURE)

    def _handle(self, meter: SimMeter, pdu: bytes) -> bytes:
        regmap = get_map(meter.model.value)
        function = pdu[0] if pdu else 0
        if function == READ_HOLDING and len(pdu) == 5:
            start, count = int.from_bytes(pdu[1:3], "big"), int.from_bytes(pdu[3:5], "big")
            if not 1 <= count <= MAX_READ:
                return exception(function, ILLEGAL_VALUE)
            words = self._read(meter, regmap, start, count)
            if words is None:
                return exception(function, ILLEGAL_ADDRESS)
            return bytes((function, 2 * count)) + struct.pack(f">{count}H", *words)
        if function == WRITE_MULTIPLE and len(pdu) >= 6:
            start, count = int.from_bytes(pdu[1:3], "big"), int.from_bytes(pdu[3:5], "big")
            data = pdu[6:]
            if not 1 <= count <= 123 or pdu[5] != 2 * count or len(data) != 2 * count:
                return exception(function, ILLEGAL_VALUE)
            words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
            code = self._write(meter, regmap, start, words)
            return exception(function, code) if code else pdu[:5]
        return exception(function, ILLEGAL_FUNCTION)

    # -- reads ----------------------------------------------------------------

    def _read(
        self, meter: SimMeter, regmap: RegisterMap, start: int, count: int
    ) -> list[int] | None:
        end = start + count
        blocks = [b for b in regmap.blocks.values() if b.start < end and start < b.end]
        covered = sorted((max(b.start, start), min(b.end, end)) for b in blocks)
        cursor = start
        for low, high in covered:
            if low > cursor:
                return None
            cursor = max(cursor, high)
        if cursor < end:
            return None
        values = register_values(meter, meter.snapshot(), regmap)
        words = [0] * count
        for block in blocks:
            image = render_block(block, values)
            low, high = max(block.start, start), min(block.end, end)
            words[low - start : high - start] = image[low - block.start : high - block.start]
        return words

    # -- writes ---------------------------------------------------------------

    def _write(self, meter: SimMeter, regmap: RegisterMap, start: int, words: list[int]) -> int:
        """Apply a write; returns 0 or a Modbus exception code."""
        end = start + len(words)
        block = next((b for b in regmap.blocks.values() if b.start <= start and end <= b.end), None)
        if block is None:
            return ILLEGAL_ADDRESS
        fields = [f for f in block.fields if start <= f.address and f.end <= end]
        if sum(f.type.words for f in fields) != len(words) or not all(f.writable for f in fields):
            return ILLEGAL_ADDRESS
        written = {f.name: f.words_to_raw(words[f.address - start : f.end - start]) for f in fields}
        if block.name == "purchase":
            return self._purchase(meter, written)
        if block.name == "control":
            return _control(meter, written)
        if any(name in written for name in CLOCK_FIELDS):
            return _set_clock(meter, written)
        return _configure(meter, block, written)

    def _purchase(self, meter: SimMeter, written: Mapping[str, int]) -> int:
        if set(written) != {"purchase_amount", "purchase_new_count", "purchase_mac"}:
            return ILLEGAL_VALUE
        amount, count = written["purchase_amount"], written["purchase_new_count"]
        mac = written["purchase_mac"].to_bytes(4, "big")
        key = self._master_key.meter_key(meter.meter_number, self._key_version)
        valid = verify_purchase_mac(key, 0, count, amount, mac)
        result = meter.purchase(Decimal(amount).scaleb(-2), count, mac_valid=valid)
        return 0 if result.accepted else ILLEGAL_VALUE


def _control(meter: SimMeter, written: Mapping[str, int]) -> int:
    if "valve_command" in written:
        command = written["valve_command"]
        if command not in (VALVE_OPEN, VALVE_CLOSE):
            return ILLEGAL_VALUE
        meter.control(force=command == VALVE_CLOSE, trip=True)
        meter.control_words = (command,)
        return 0
    enable = written.get("force_enable", meter.control_words[0] if meter.control_words else 0)
    action = written.get("force_action", meter.control_words[1] if meter.control_words else 0)
    if enable not in (0, 1) or action not in (0, 1):
        return ILLEGAL_VALUE
    meter.control(force=enable == 1, trip=action == 1)
    meter.control_words = (enable, action)
    return 0


def _set_clock(meter: SimMeter, written: Mapping[str, int]) -> int:
    if not all(name in written for name in CLOCK_FIELDS):
        return ILLEGAL_VALUE
    base = get_map(meter.model.value).clock_year_base
    try:
        local = dt.datetime(
            base + written["clock_year"],
            written["clock_month"],
            written["clock_day"],
            written["clock_hour"],
            written["clock_minute"],
            written["clock_second"],
            tzinfo=SITE_TZ,
        )
    except ValueError:
        return ILLEGAL_VALUE
    meter.set_clock(to_ms(local))
    return 0


def _configure(meter: SimMeter, block: Block, written: Mapping[str, int]) -> int:
    def value(name: str) -> Decimal | None:
        raw = written.get(name)
        return None if raw is None else block.field(name).raw_to_value(raw)

    prices = [value(f"price{i}") for i in range(1, 5)]
    new_prices = None
    if any(p is not None for p in prices):
        new_prices = tuple(
            p if p is not None else old for p, old in zip(prices, meter.prices, strict=True)
        )
    fee = written.get("fee_control")
    if fee not in (None, 0, 1):
        return ILLEGAL_VALUE
    if "fc_remaining" in written:
        # Credit is only cleared here; it arrives by purchases, which carry count and MAC.
        if set(written) != {"fc_remaining"} or written["fc_remaining"] != 0:
            return ILLEGAL_VALUE
        meter.clear_credit()
        return 0
    hoarding = value("hoarding_limit")
    meter.configure(
        prices=(new_prices[0], new_prices[1], new_prices[2], new_prices[3]) if new_prices else None,
        alarm1=value("alarm1_threshold"),
        alarm2=value("alarm2_threshold"),
        overdraft_limit=value("overdraft_limit"),
        fee_control_on=None if fee is None else fee == 1,
        hoarding_limit=hoarding,
    )
    return 0


def register_values(
    meter: SimMeter, snap: MeterSnapshot, regmap: RegisterMap
) -> dict[str, Decimal | int]:
    """Every field value a meter of this map can show, by field name."""
    local = from_ms(snap.clock_ms).astimezone(SITE_TZ)
    phases = snap.phases
    per_phase_kw = Decimal(snap.power_w // phases).scaleb(-3) if snap.relay_closed else Decimal(0)
    pf = Decimal("0.950") if snap.power_w else Decimal(0)
    values: dict[str, Decimal | int] = {
        "meter_number": int(snap.meter_number),
        "type_code": regmap.type_code,
        "pt_ratio": meter.point.pt_ratio,
        "ct_ratio": meter.point.ct_ratio,
        "p_total": Decimal(snap.power_w).scaleb(-3),
        "q_total": Decimal(snap.power_w * 329 // 1000).scaleb(-3),
        "pf_total": pf,
        "energy_total": snap.energy_total,
        "volume": snap.energy_total,
        "remaining_credit": snap.credit,
        "fc_remaining": snap.credit,
        "purchase_count": snap.purchase_count,
        "fc_purchase_count": snap.purchase_count,
        "status_purchase_count": snap.purchase_count,
        "load_trip_count": snap.trip_count,
        "total_purchased": snap.total_purchased,
        "fee_control": int(snap.fee_control_on),
        "alarm1_threshold": snap.alarm1_threshold,
        "alarm2_threshold": snap.alarm2_threshold,
        "overdraft_limit": snap.overdraft_limit,
        "hoarding_limit": snap.hoarding_limit or Decimal(0),
        "clock_year": local.year - regmap.clock_year_base,
        "clock_month": local.month,
        "clock_day": local.day,
        "clock_weekday": local.isoweekday() % 7,
        "clock_hour": local.hour,
        "clock_minute": local.minute,
        "clock_second": local.second,
        "battery_voltage": Decimal("3.60"),
        "valve_command": meter.control_words[0] if meter.control_words else VALVE_OPEN,
        "force_enable": meter.control_words[0] if len(meter.control_words) == 2 else 0,
        "force_action": meter.control_words[1] if len(meter.control_words) == 2 else 0,
    }
    for tariff, energy in zip(("sharp", "peak", "flat", "valley"), snap.energy_tou, strict=True):
        values[f"energy_{tariff}"] = energy
    for i, price in enumerate(snap.prices, start=1):
        values[f"price{i}"] = price
    for i, letter in enumerate("abc"):
        live = i < phases
        values[f"u{letter}"] = Decimal(snap.voltage_dv[i]).scaleb(-1) if live else Decimal(0)
        values[f"i{letter}"] = Decimal(snap.current_ca[i]).scaleb(-2) if live else Decimal(0)
        values[f"p{letter}"] = per_phase_kw if live else Decimal(0)
        values[f"q{letter}"] = (
            (per_phase_kw * Decimal("0.329")).quantize(Decimal("0.001"), ROUND_FLOOR)
            if live
            else Decimal(0)
        )
        values[f"pf{letter}"] = pf if live else Decimal(0)
    if regmap.purchase_results:
        values["last_purchase_result"] = regmap.purchase_result_code(snap.last_purchase)
    values["status"] = _status(regmap, snap)
    values["variant"] = meter.variant_code << 8 | phases if meter.point.circuit else 0
    return values


def _status(regmap: RegisterMap, snap: MeterSnapshot) -> int:
    """The status word, with bit positions taken from the map's parts."""
    flags = {
        "fee_control_on": snap.fee_control_on,
        "arrears": snap.arrears,
        "alarm1": snap.alarm1,
        "alarm2": snap.alarm2,
        "valve_open": snap.relay_closed,
    }
    for phase in range(1, 4):
        on_phase = phase <= snap.phases
        flags[f"relay_l{phase}"] = on_phase and snap.relay_closed
        flags[f"fee_relay_l{phase}"] = on_phase and snap.credit_tripped
    status = regmap.block("live").field("status")
    return sum(1 << part.lsb for part in status.parts if flags.get(part.name))


def render_block(block: Block, values: Mapping[str, Decimal | int]) -> list[int]:
    """The block's register image: each known field floored to its scale (as a meter
    truncates), saturated to its width, and split into words by the map's own codec."""
    words = [0] * block.count
    for fld, offset, end, low, high in _layout(block):
        value = values.get(fld.name)
        if value is None:
            continue
        if isinstance(value, int) and not fld.scale:
            raw = value
        else:
            raw = int(Decimal(value).scaleb(-fld.scale).to_integral_value(ROUND_FLOOR))
        words[offset:end] = fld.raw_to_words(max(low, min(high, raw)))
    return words


Layout = tuple[tuple[Field, int, int, int, int], ...]
_LAYOUTS: dict[int, Layout] = {}


def _layout(block: Block) -> Layout:
    """(field, first word, end word, raw min, raw max) per field, computed once per block."""
    layout = _LAYOUTS.get(id(block))
    if layout is None:
        layout = tuple(
            (f, f.address - block.start, f.end - block.start, *f.type.raw_range)
            for f in block.fields
        )
        _LAYOUTS[id(block)] = layout
    return layout
