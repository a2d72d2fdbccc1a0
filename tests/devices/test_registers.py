"""Register pipeline: words → integer → Decimal, and back; live-block decoding."""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pems.devices.acrel import decode_forced, decode_live
from pems.devices.errors import BadFrame, DeviceError, EncodeError
from pems.devices.maps import MODBUS_MAPS, get_map
from pems.devices.records import ForcedMode
from pems.devices.registers import Field, FieldType
from pems.devices.water import decode_water, decode_water_status

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("ftype", "scale", "words", "raw", "value"),
    [
        (FieldType.U16, 0, [0xFFFF], 65535, Decimal(65535)),
        (FieldType.U16, -1, [2201], 2201, Decimal("220.1")),
        (FieldType.I16, -3, [0xFFFF], -1, Decimal("-0.001")),
        (FieldType.I16, 0, [0x8000], -32768, Decimal(-32768)),
        (FieldType.I16, -3, [0x7FFF], 32767, Decimal("32.767")),
        (FieldType.U32, -2, [0x0001, 0xE240], 123456, Decimal("1234.56")),
        (FieldType.U32, 0, [0xFFFF, 0xFFFF], 0xFFFFFFFF, Decimal(0xFFFFFFFF)),
        (FieldType.I32, -2, [0xFFFF, 0xFF38], -200, Decimal("-2.00")),
        (FieldType.I32, 0, [0x8000, 0x0000], -(2**31), Decimal(-(2**31))),
        (FieldType.BCD12, 0, [0x1234, 0x5678, 0x9012], 123456789012, Decimal(123456789012)),
    ],
)
def test_field_decodes_words_exactly(
    ftype: FieldType, scale: int, words: list[int], raw: int, value: Decimal
) -> None:
    fld = Field("x", 0, ftype, scale)
    assert fld.words_to_raw(words) == raw
    decoded = fld.raw_to_value(raw)
    assert decoded == value
    assert isinstance(decoded, Decimal)
    assert list(fld.encode(value)) == words


@pytest.mark.parametrize(
    ("ftype", "scale", "value", "message"),
    [
        (FieldType.U16, 0, Decimal(65536), "outside"),
        (FieldType.U16, 0, -1, "outside"),
        (FieldType.I16, -3, Decimal("32.768"), "outside"),
        (FieldType.U32, -2, Decimal("1.005"), "not a multiple"),
        (FieldType.BCD12, 0, 10**12, "outside"),
    ],
)
def test_field_refuses_unencodable_values(
    ftype: FieldType, scale: int, value: Decimal | int, message: str
) -> None:
    with pytest.raises(EncodeError, match=message):
        Field("x", 0, ftype, scale).encode(value)


def test_field_refuses_float() -> None:
    with pytest.raises(EncodeError, match="expected int or Decimal"):
        Field("x", 0, FieldType.U32, -2).encode(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("words", [[0x12A4, 0, 0], [0x10000], [-1]])
def test_bad_words_raise_bad_frame(words: list[int]) -> None:
    ftype = FieldType.BCD12 if len(words) == 3 else FieldType.U16
    with pytest.raises(BadFrame):
        Field("x", 0, ftype).words_to_raw(words)


@given(st.sampled_from(list(FieldType)), st.integers(-6, 6), st.data())
def test_encode_decode_round_trip(ftype: FieldType, scale: int, data: st.DataObject) -> None:
    low, high = ftype.raw_range
    raw = data.draw(st.integers(low, high))
    fld = Field("x", 0, ftype, scale)
    value = fld.raw_to_value(raw)
    assert fld.words_to_raw(fld.encode(value)) == raw


@given(st.sampled_from(list(FieldType)), st.lists(st.integers(-70000, 140000), max_size=4))
def test_decoding_arbitrary_words_raises_only_bad_frame(ftype: FieldType, words: list[int]) -> None:
    with contextlib.suppress(DeviceError):
        Field("x", 0, ftype).words_to_raw(words)


def dtsy_live_words() -> list[int]:
    """A hand-written 48-register read of a DTSY1352 (independent of the encoder)."""
    words = [0] * 48
    words[0] = 5
    words[1:4] = [2201, 2210, 2195]
    words[4:7] = [1234, 0, 5]
    words[7:11] = [2715, 0xFFFF, 0, 2714]
    words[15:19] = [1000, 0xFC18, 0, 990]
    words[19:21] = [1, 50]
    words[21:23] = [0x0001, 0xE240]  # 1234.56 kWh
    words[23:31] = [0, 100, 0, 200, 0, 300, 0x0001, 0x0000]
    words[31:33] = [0xFFFF, 0xFF38]  # -2.00
    words[33] = 7
    words[36] = 0xE028  # relays L1-L3 closed, fee control on, arrears
    words[40:47] = [26, 11, 23, 1, 23, 59, 58]
    return words


def test_dtsy_live_block_decodes_to_exact_state() -> None:
    state = decode_live(get_map("DTSY1352-NK"), dtsy_live_words(), SHANGHAI)
    assert state.type_code == 5
    assert state.energy.total == Decimal("1234.56")
    assert (state.energy.sharp, state.energy.peak, state.energy.flat, state.energy.valley) == (
        Decimal("1.00"),
        Decimal("2.00"),
        Decimal("3.00"),
        Decimal("655.36"),
    )
    assert state.remaining_credit == Decimal("-2.00")
    assert state.purchase_count == 7
    assert state.relay_closed is True
    assert (state.arrears, state.alarm1, state.alarm2, state.fault) == (True, False, False, False)
    assert [p.voltage for p in state.phases] == [
        Decimal("220.1"),
        Decimal("221.0"),
        Decimal("219.5"),
    ]
    assert [p.current for p in state.phases] == [Decimal("12.34"), Decimal("0.00"), Decimal("0.05")]
    assert state.phases[1].active_power == Decimal("-0.001")
    assert state.total_active_power == Decimal("2.714")
    assert state.power_factor == Decimal("0.990")
    assert state.clock == datetime(2026, 11, 23, 23, 59, 58, tzinfo=SHANGHAI)
    assert state.energy_unit == "kWh"


def test_single_phase_meter_uses_only_l1() -> None:
    words = dtsy_live_words()
    words[0] = 7
    words[36] = 0x00C0 | (1 << 14)  # alarm1 + alarm2, L2 bit set but L1 open
    state = decode_live(get_map("DDSY1352-NK"), words, SHANGHAI)
    assert len(state.phases) == 1
    assert state.relay_closed is False
    assert (state.alarm1, state.alarm2, state.arrears) == (True, True, False)


@pytest.mark.parametrize(("variant", "phases"), [(0x0201, 1), (0x0003, 3)])
def test_adf300_circuit_phases_come_from_variant_byte(variant: int, phases: int) -> None:
    words = dtsy_live_words()
    words[0] = 10
    words[47] = variant
    state = decode_live(get_map("ADF300"), words, SHANGHAI)
    assert len(state.phases) == phases
    values = get_map("ADF300").block("live").decode(words)
    assert values.part("adf_variant") == variant >> 8


def test_adf300_bad_phase_byte_is_a_bad_frame() -> None:
    words = dtsy_live_words()
    words[47] = 0x0002
    with pytest.raises(BadFrame, match="circuit phase byte is 2"):
        decode_live(get_map("ADF300"), words, SHANGHAI)


def test_impossible_clock_is_reported_as_unknown() -> None:
    words = dtsy_live_words()
    words[41] = 13
    assert decode_live(get_map("DTSY1352-NK"), words, SHANGHAI).clock is None


@pytest.mark.parametrize(
    ("pair", "mode"),
    [([0, 0], ForcedMode.PREPAID), ([0, 1], ForcedMode.PREPAID), ([1, 1], ForcedMode.FORCED_TRIP),
     ([1, 0], ForcedMode.KEEP_POWER)],
)  # fmt: skip
def test_control_pair_readback(pair: list[int], mode: ForcedMode) -> None:
    assert decode_forced(pair, get_map("DTSY1352-NK")) is mode


def test_water_live_block() -> None:
    regmap = get_map("WATER-VALVE")
    words = [0x5701, 0x0001, 0x86A3, 0b10101, 26, 1, 31, 6, 8, 0, 0, 362]
    state = decode_water(regmap, words, SHANGHAI)
    assert state.energy.total == Decimal("100.003")
    assert state.energy_unit == "m3"
    assert state.relay_closed is True
    assert state.energy.sharp is None
    status = decode_water_status(regmap, words)
    assert (status.valve_open, status.battery_low, status.reverse_flow) == (True, True, True)
    assert status.battery_voltage == Decimal("3.62")


def test_block_encode_is_inverse_of_decode() -> None:
    block = get_map("DTSY1352-NK").block("live")
    words = dtsy_live_words()
    values = block.decode(words)
    rebuilt = block.encode({f.name: values.decimal(f.name) for f in block.fields})
    assert rebuilt == words


def test_encode_write_needs_adjacent_writable_fields() -> None:
    fee = get_map("DTSY1352-NK").block("fee_control")
    start, words = fee.encode_write({"alarm1_threshold": Decimal("50.00"),
                                     "alarm2_threshold": Decimal("10.00")})  # fmt: skip
    assert (start, words) == (0x040A, [0, 5000, 0, 1000])
    with pytest.raises(EncodeError, match="not adjacent"):
        fee.encode_write({"price1": 1, "alarm1_threshold": 1})
    with pytest.raises(EncodeError, match="read-only"):
        fee.encode_write({"total_purchased": 1})


def test_purchase_block_layout_is_the_documented_convention() -> None:
    block = get_map("DTSY1352-NK").block("purchase")
    start, words = block.encode_write(
        {"purchase_amount": 100_000, "purchase_new_count": 8, "purchase_mac": 0xDEADBEEF}
    )
    assert (start, words) == (0x0440, [0x0001, 0x86A0, 8, 0xDEAD, 0xBEEF])


@given(st.sampled_from(sorted(MODBUS_MAPS)), st.data())
def test_random_live_reads_decode_or_raise_bad_frame(model: str, data: st.DataObject) -> None:
    regmap = MODBUS_MAPS[model]
    block = regmap.block("live")
    words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=block.count, max_size=block.count))
    decode = decode_water if model == "WATER-VALVE" else decode_live
    try:
        state = decode(regmap, words, SHANGHAI)
    except DeviceError:
        return
    assert state.model == model


@given(st.sampled_from(sorted(MODBUS_MAPS)), st.data())
def test_block_decode_agrees_with_field_decoding(model: str, data: st.DataObject) -> None:
    block = data.draw(st.sampled_from(list(MODBUS_MAPS[model].blocks.values())))
    words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=block.count, max_size=block.count))
    try:
        values = block.decode(words)
    except BadFrame:  # only BCD fields can refuse 16-bit words
        assert any(f.type is FieldType.BCD12 for f in block.fields)
        return
    for fld in block.fields:
        offset = fld.address - block.start
        assert values.integer(fld.name) == fld.words_to_raw(words[offset : offset + fld.type.words])
