"""Map files: the shipped maps match the facts; bad maps are refused with clear messages."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pems.devices.errors import MapError
from pems.devices.mapfile import load_map_file, parse_map
from pems.devices.maps import MODBUS_MAPS
from pems.devices.records import MODEL_CODES
from pems.devices.registers import RegisterMap


def test_every_modbus_model_code_has_a_map() -> None:
    assert set(MODBUS_MAPS) == set(MODEL_CODES) - {"DLT645-GENERIC"}


@pytest.mark.parametrize(
    ("model", "type_code", "phases"),
    [("DTSY1352-NK", 5, 3), ("DDSY1352-NK", 7, 1), ("ADF300", 10, 0), ("WATER-VALVE", 0x5701, 0)],
)
def test_model_header(model: str, type_code: int, phases: int) -> None:
    regmap = MODBUS_MAPS[model]
    assert (regmap.type_code, regmap.phases) == (type_code, phases)


@pytest.mark.parametrize(
    ("block", "field", "address", "ftype", "scale"),
    [
        ("live", "type_code", 0x0200, "u16", 0),
        ("live", "ua", 0x0201, "u16", -1),
        ("live", "ia", 0x0204, "u16", -2),
        ("live", "p_total", 0x020A, "i16", -3),
        ("live", "energy_total", 0x0215, "u32", -2),
        ("live", "energy_valley", 0x021D, "u32", -2),
        ("live", "remaining_credit", 0x021F, "i32", -2),
        ("live", "purchase_count", 0x0221, "u16", 0),
        ("live", "status", 0x0224, "u16", 0),
        ("live", "clock_year", 0x0228, "u16", 0),
        ("fee_control", "price1", 0x0402, "u32", -4),
        ("fee_control", "alarm1_threshold", 0x040A, "u32", -2),
        ("fee_control", "alarm2_threshold", 0x040C, "u32", -2),
        ("fee_control", "overdraft_limit", 0x040E, "u32", -2),
        ("ident", "meter_number", 0x0043, "bcd12", 0),
        ("control", "force_enable", 0x0057, "u16", 0),
    ],
)
def test_dtsy_addresses_follow_the_facts(
    block: str, field: str, address: int, ftype: str, scale: int
) -> None:
    fld = MODBUS_MAPS["DTSY1352-NK"].block(block).field(field)
    assert (fld.address, fld.type.value, fld.scale) == (address, ftype, scale)


def test_live_block_is_one_48_register_read_and_fee_block_25() -> None:
    regmap = MODBUS_MAPS["DTSY1352-NK"]
    assert (regmap.block("live").start, regmap.block("live").count) == (0x0200, 48)
    assert (regmap.block("fee_control").start, regmap.block("fee_control").count) == (0x0400, 25)
    assert regmap.command("trip") == (1, 1)
    assert regmap.command("keep_power_on") == (1, 0)
    assert regmap.command("resume_prepaid")[0] == 0


@pytest.mark.parametrize(
    ("part", "lsb"),
    [("fault", 8), ("relay_l1", 13), ("relay_l3", 15), ("fee_control_on", 3), ("arrears", 5),
     ("alarm1", 6), ("alarm2", 7)],
)  # fmt: skip
def test_status_bits_follow_the_facts(part: str, lsb: int) -> None:
    _, bit = MODBUS_MAPS["DTSY1352-NK"].block("live").part(part)
    assert (bit.lsb, bit.width) == (lsb, 1)


def test_adf300_has_per_phase_fee_blocks() -> None:
    regmap = MODBUS_MAPS["ADF300"]
    assert regmap.block("fee_control").start == 0x0500
    assert regmap.block("fee_control_3p").start == 0x0536
    assert regmap.block("fee_control_3p").field("price1").address == 0x0538


def good_map() -> dict[str, Any]:
    return {
        "model": "TEST",
        "type_code": 1,
        "phases": 1,
        "energy_unit": "kWh",
        "blocks": [
            {"name": "a", "start": 0, "count": 4, "fields": [
                {"name": "x", "address": 0, "type": "u32", "scale": -2},
                {"name": "s", "address": 2, "type": "u16",
                 "bits": [{"name": "f1", "lsb": 0}, {"name": "f2", "lsb": 1, "width": 3}]},
            ]},
            {"name": "control", "start": 10, "count": 2, "fields": [
                {"name": "c", "address": 10, "type": "u16", "writable": True},
            ]},
        ],
        "commands": {"trip": [1, 1]},
        "purchase_results": {"1": "accepted", "2": "duplicate"},
    }  # fmt: skip


def test_good_map_parses() -> None:
    regmap = parse_map(good_map(), "good.toml")
    assert regmap.block("a").field("x").scale == -2
    assert regmap.purchase_result_code("duplicate") == 2


def mutate(path: str, value: Any) -> dict[str, Any]:
    """good_map() with one item replaced; path like 'blocks.0.fields.1.address'."""
    data = copy.deepcopy(good_map())
    node: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("blocks.0.fields.1.address", 1, "fields x and s overlap at 0x0001"),
        ("blocks.0.fields.0.type", "f32", "unknown type 'f32'"),
        ("blocks.0.count", 126, "block a.count: expected an integer in 1..125"),
        ("blocks.0.fields.1.address", 4, "lie outside the block"),
        ("blocks.1.start", 3, "register 0x0003 overlaps block a"),
        ("blocks.0.fields.1.bits.1.lsb", 0, "bit 0 claimed by both f1 and f2"),
        ("blocks.0.fields.1.bits.1.width", 17, "f2.width: expected an integer in 1..15"),
        ("blocks.0.fields.0.scale", 0.5, "x.scale: expected an integer"),
        ("energy_unit", "MWh", "energy_unit: expected one of"),
        ("phases", 2, "phases: expected 1, 3, or 0"),
        ("purchase_results.2", "refused", "unknown result 'refused'"),
        ("commands.trip", [1, 70000], "commands.trip: expected an integer in 0..65535"),
        ("blocks.0.fields.0.writeable", True, "unknown keys ['writeable']"),
    ],
)
def test_bad_maps_are_refused_with_a_clear_message(path: str, value: Any, message: str) -> None:
    with pytest.raises(MapError, match=r"bad\.toml: invalid register map") as caught:
        parse_map(mutate(path, value), "bad.toml")
    assert message in str(caught.value)


def test_the_credit_clear_is_data_in_the_fee_control_blocks() -> None:
    for model in ("DTSY1352-NK", "DDSY1352-NK", "ADF300"):
        regmap = MODBUS_MAPS[model]
        assert regmap.clear_credit == {"fc_remaining": 0}
        for name in ("fee_control", "fee_control_3p"):
            if name in regmap.blocks:
                assert regmap.block(name).field("fc_remaining").writable
    assert MODBUS_MAPS["DTSY1352-NK"].block("fee_control").field("fc_remaining").address == 0x0414
    assert MODBUS_MAPS["WATER-VALVE"].clear_credit == {}


@pytest.mark.parametrize(
    ("fee_fields", "clear", "message"),
    [
        ([], {"x": 0}, "a credit clear needs a block named 'fee_control'"),
        ([{"name": "left", "address": 20, "type": "i32"}], {"left": 0}, "not a writable field"),
        ([{"name": "left", "address": 20, "type": "i32", "writable": True}], {"gone": 0},
         "clear_credit.gone: not a writable field of block fee_control"),
        ([{"name": "left", "address": 20, "type": "i32", "writable": True}], {"left": "0"},
         "clear_credit.left: expected an integer"),
    ],
)  # fmt: skip
def test_a_bad_credit_clear_is_refused(
    fee_fields: list[dict[str, Any]], clear: dict[str, Any], message: str
) -> None:
    data = good_map()
    if fee_fields:
        data["blocks"].append(
            {"name": "fee_control", "start": 20, "count": 2, "fields": fee_fields}
        )
    data["clear_credit"] = clear
    with pytest.raises(MapError) as caught:
        parse_map(data, "bad.toml")
    assert message in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    data = mutate("blocks.0.fields.0.type", "float")
    data["blocks"][0]["count"] = 0
    with pytest.raises(MapError) as caught:
        parse_map(data, "bad.toml")
    text = str(caught.value)
    assert "unknown type 'float'" in text
    assert "a.count" in text


def test_base_file_blocks_are_inherited_and_replaced(tmp_path: Path) -> None:
    (tmp_path / "_base.toml").write_text(
        'energy_unit = "kWh"\n'
        '[[blocks]]\nname = "a"\nstart = 0\ncount = 1\n'
        '  [[blocks.fields]]\n  name = "x"\n  address = 0\n  type = "u16"\n'
        '[[blocks]]\nname = "b"\nstart = 5\ncount = 1\n'
        '  [[blocks.fields]]\n  name = "y"\n  address = 5\n  type = "u16"\n'
    )
    (tmp_path / "m.toml").write_text(
        'base = "_base"\nmodel = "M"\ntype_code = 3\nphases = 1\n'
        '[[blocks]]\nname = "b"\nstart = 9\ncount = 2\n'
        '  [[blocks.fields]]\n  name = "y"\n  address = 9\n  type = "i32"\n'
    )
    regmap = load_map_file(tmp_path / "m.toml")
    assert regmap.block("a").field("x").address == 0
    assert regmap.block("b").field("y").address == 9
    assert regmap.block("b").field("y").type.value == "i32"


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("model = \n")
    with pytest.raises(MapError, match=r"broken\.toml: cannot read map file"):
        load_map_file(tmp_path / "broken.toml")


def all_paths(node: Any, prefix: str = "") -> list[str]:
    """Every dotted path into good_map(), leaves and containers alike."""
    items = enumerate(node) if isinstance(node, list) else node.items()
    paths = []
    for key, child in items:
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(child, (list, dict)):
            paths.extend(all_paths(child, f"{path}."))
    return paths


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**20), 2**20),
    st.text(max_size=8),
    st.lists(st.integers(-5, 70000), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.lists(st.dictionaries(st.sampled_from(["name", "lsb", "address", "type"]),
                             st.integers(0, 20), max_size=3), max_size=2),
)  # fmt: skip


@given(st.sampled_from(all_paths(good_map())), junk)
def test_any_corruption_yields_a_map_or_a_map_error(path: str, value: Any) -> None:
    message = ""
    try:
        result = parse_map(mutate(path, value), "fuzz.toml")
    except MapError as exc:
        message = str(exc)
    if message:
        assert message.startswith("fuzz.toml: invalid register map")
    else:
        assert isinstance(result, RegisterMap)
