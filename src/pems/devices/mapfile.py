"""Load and validate register-map TOML files.

Validation collects every problem with its location (file, block, field)
and raises one :class:`~pems.devices.errors.MapError` listing them all, so a
field engineer fixing a map sees the whole list at once.

A map file may name a ``base`` file (same directory, without ``.toml``): the
base's blocks, commands, purchase results and credit clear are taken first,
and a block of the same name in the model file replaces the base's block
wholesale.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

from pems.devices.errors import MapError, PurchaseReason
from pems.devices.registers import (
    MAX_BLOCK_REGISTERS,
    BitPart,
    Block,
    Field,
    FieldType,
    RegisterMap,
)

ENERGY_UNITS = ("kWh", "m3")
#: Blocks a credit clear may write (an ADF300 three-phase circuit has its own).
FEE_CONTROL_BLOCKS = ("fee_control", "fee_control_3p")
PURCHASE_RESULT_NAMES = frozenset({"none", "accepted"} | {r.value for r in PurchaseReason})


def load_map_file(path: Path) -> RegisterMap:
    """Read ``path`` (and its base, if any) and return the validated map."""
    data = _read_with_base(path)
    return parse_map(data, source=path.name)


def _read_with_base(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MapError(f"{path.name}: cannot read map file: {exc}") from exc
    base_name = data.pop("base", None)
    if base_name is None:
        return data
    base = _read_with_base(path.with_name(f"{base_name}.toml"))
    own_blocks = {b.get("name"): b for b in data.pop("blocks", [])}
    merged = [own_blocks.pop(b.get("name"), b) for b in base.pop("blocks", [])]
    merged.extend(own_blocks.values())
    commands = {**base.pop("commands", {}), **data.pop("commands", {})}
    results = {**base.pop("purchase_results", {}), **data.pop("purchase_results", {})}
    clear = {**base.pop("clear_credit", {}), **data.pop("clear_credit", {})}
    return {
        **base,
        **data,
        "blocks": merged,
        "commands": commands,
        "purchase_results": results,
        "clear_credit": clear,
    }


def parse_map(data: Mapping[str, Any], source: str) -> RegisterMap:
    """Validate a map's parsed TOML and build the immutable :class:`RegisterMap`."""
    checker = _Checker(source)
    result = checker.build(data)
    if result is None or checker.errors:
        listing = "\n  ".join(checker.errors)
        raise MapError(f"{source}: invalid register map:\n  {listing}")
    return result


class _Checker:
    """Accumulates validation errors while building map objects."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def err(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def integer(self, where: str, value: Any, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.err(where, f"expected an integer in {low}..{high}, got {value!r}")
            return low
        return value

    def text(self, where: str, value: Any, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value):
            self.err(where, f"expected a non-empty string, got {value!r}")
            return ""
        return value

    def tables(self, where: str, raw: Mapping[str, Any], key: str) -> list[Any]:
        value = raw.get(key, [])
        if not isinstance(value, list):
            self.err(where, f"expected a list of tables ([[...{key}]]), got {value!r}")
            return []
        return value

    def build(self, data: Mapping[str, Any]) -> RegisterMap | None:
        model = self.text("model", data.get("model"))
        unit = data.get("energy_unit")
        if unit not in ENERGY_UNITS:
            self.err("energy_unit", f"expected one of {ENERGY_UNITS}, got {unit!r}")
        phases = data.get("phases", 0)
        if isinstance(phases, bool) or phases not in (0, 1, 3):
            self.err("phases", f"expected 1, 3, or 0 (per circuit), got {phases!r}")
        raw_blocks = data.get("blocks", [])
        if not isinstance(raw_blocks, list) or not raw_blocks:
            self.err("blocks", "expected a non-empty list of [[blocks]]")
            raw_blocks = []
        blocks = [self.block(b) for b in raw_blocks]
        self.check_layout(blocks)
        by_name = {b.name: b for b in blocks}
        commands = self.commands(data.get("commands", {}), by_name.get("control"))
        results = self.purchase_results(data.get("purchase_results", {}))
        clear = self.clear_credit(data.get("clear_credit", {}), by_name)
        extra = set(data) - {
            "model", "description", "type_code", "phases", "energy_unit",
            "clock_year_base", "blocks", "commands", "purchase_results", "clear_credit",
        }  # fmt: skip
        if extra:
            self.err("top level", f"unknown keys {sorted(extra)}")
        if self.errors:
            return None
        return RegisterMap(
            model=model,
            description=self.text("description", data.get("description"), required=False),
            type_code=self.integer("type_code", data.get("type_code"), 0, 0xFFFF),
            phases=phases,
            energy_unit=str(unit),
            clock_year_base=self.integer(
                "clock_year_base", data.get("clock_year_base", 0), 0, 9999
            ),
            blocks=by_name,
            commands=commands,
            purchase_results=results,
            source=self.source,
            clear_credit=clear,
        )

    def block(self, raw: Any) -> Block:
        if not isinstance(raw, dict):
            self.err("blocks", f"expected a table, got {raw!r}")
            return Block("?", 0, 1)
        name = self.text("block", raw.get("name"))
        where = f"block {name}"
        start = self.integer(f"{where}.start", raw.get("start"), 0, 0xFFFF)
        count = self.integer(f"{where}.count", raw.get("count"), 1, MAX_BLOCK_REGISTERS)
        fields = tuple(self.field(where, f) for f in self.tables(f"{where}.fields", raw, "fields"))
        if not fields:
            self.err(where, "has no fields")
        for fld in fields:
            if fld.address < start or fld.end > start + count:
                self.err(
                    f"{where}.{fld.name}",
                    f"registers 0x{fld.address:04X}..0x{fld.end - 1:04X} lie outside the block "
                    f"0x{start:04X}..0x{start + count - 1:04X}",
                )
        return Block(name, start, count, self.text(f"{where}.doc", raw.get("doc"), required=False),
                     fields)  # fmt: skip

    def field(self, where: str, raw: Any) -> Field:
        if not isinstance(raw, dict):
            self.err(where, f"field must be a table, got {raw!r}")
            return Field("?", 0, FieldType.U16)
        name = self.text(f"{where} field", raw.get("name"))
        here = f"{where}.{name}"
        try:
            ftype = FieldType(raw.get("type"))
        except (ValueError, TypeError):
            allowed = ", ".join(t.value for t in FieldType)
            self.err(f"{here}.type", f"unknown type {raw.get('type')!r} (allowed: {allowed})")
            ftype = FieldType.U16
        writable = raw.get("writable", False)
        if not isinstance(writable, bool):
            self.err(f"{here}.writable", f"expected true/false, got {writable!r}")
        unknown = set(raw) - {"name", "address", "type", "scale", "unit", "writable", "doc", "bits"}
        if unknown:
            self.err(here, f"unknown keys {sorted(unknown)}")
        parts = tuple(self.part(here, ftype, p) for p in self.tables(f"{here}.bits", raw, "bits"))
        self.check_parts(here, parts)
        return Field(
            name=name,
            address=self.integer(f"{here}.address", raw.get("address"), 0, 0xFFFF),
            type=ftype,
            scale=self.integer(f"{here}.scale", raw.get("scale", 0), -6, 6),
            unit=self.text(f"{here}.unit", raw.get("unit"), required=False),
            writable=writable is True,
            doc=self.text(f"{here}.doc", raw.get("doc"), required=False),
            parts=parts,
        )

    def part(self, where: str, ftype: FieldType, raw: Any) -> BitPart:
        if not isinstance(raw, dict):
            self.err(where, f"bit part must be a table, got {raw!r}")
            return BitPart("?", 0, 1)
        name = self.text(f"{where} bits", raw.get("name"))
        bits = 16 * ftype.words
        lsb = self.integer(f"{where}.{name}.lsb", raw.get("lsb"), 0, bits - 1)
        width = self.integer(f"{where}.{name}.width", raw.get("width", 1), 1, bits - lsb)
        doc = self.text(f"{where}.{name}.doc", raw.get("doc"), required=False)
        return BitPart(name, lsb, width, doc)

    def check_parts(self, where: str, parts: tuple[BitPart, ...]) -> None:
        used: dict[int, str] = {}
        for part in parts:
            for bit in range(part.lsb, part.lsb + part.width):
                if bit in used:
                    self.err(where, f"bit {bit} claimed by both {used[bit]} and {part.name}")
                used[bit] = part.name

    def check_layout(self, blocks: list[Block]) -> None:
        block_names: set[str] = set()
        owners: dict[int, str] = {}
        for block in blocks:
            if block.name in block_names:
                self.err(f"block {block.name}", "defined twice")
            block_names.add(block.name)
            names: set[str] = set()
            for fld in block.fields:
                for other in (fld.name, *(p.name for p in fld.parts)):
                    if other in names:
                        self.err(f"block {block.name}.{fld.name}", f"name {other!r} used twice")
                    names.add(other)
            for reg in range(block.start, block.end):
                if reg in owners:
                    self.err(
                        f"block {block.name}",
                        f"register 0x{reg:04X} overlaps block {owners[reg]}",
                    )
                    break
                owners[reg] = block.name
            self.check_fields_disjoint(block)

    def check_fields_disjoint(self, block: Block) -> None:
        ordered = sorted(block.fields, key=lambda f: f.address)
        for before, after in pairwise(ordered):
            if after.address < before.end:
                self.err(
                    f"block {block.name}",
                    f"fields {before.name} and {after.name} overlap at 0x{after.address:04X}",
                )

    def commands(self, raw: Any, control: Block | None) -> dict[str, tuple[int, ...]]:
        if not isinstance(raw, dict):
            self.err("commands", f"expected a table, got {raw!r}")
            return {}
        if raw and control is None:
            self.err("commands", "commands need a block named 'control'")
        out: dict[str, tuple[int, ...]] = {}
        for name, words in raw.items():
            if not isinstance(words, list) or not words:
                self.err(f"commands.{name}", f"expected a list of register values, got {words!r}")
                continue
            out[name] = tuple(self.integer(f"commands.{name}", w, 0, 0xFFFF) for w in words)
            if control is not None and len(words) > control.count:
                self.err(f"commands.{name}", f"{len(words)} words exceed the control block")
        return out

    def purchase_results(self, raw: Any) -> dict[int, str]:
        if not isinstance(raw, dict):
            self.err("purchase_results", f"expected a table, got {raw!r}")
            return {}
        out: dict[int, str] = {}
        for code, name in raw.items():
            if not str(code).isdecimal() or not 0 <= int(code) <= 0xFFFF:
                self.err("purchase_results", f"code {code!r} is not an integer 0..65535")
                continue
            if not isinstance(name, str) or name not in PURCHASE_RESULT_NAMES:
                allowed = ", ".join(sorted(PURCHASE_RESULT_NAMES))
                self.err(f"purchase_results.{code}", f"unknown result {name!r} ({allowed})")
                continue
            out[int(code)] = name
        return out

    def clear_credit(self, raw: Any, blocks: Mapping[str, Block]) -> dict[str, int]:
        """Field → value written to clear the credit: writable, in every fee-control block."""
        if not isinstance(raw, dict):
            self.err("clear_credit", f"expected a table, got {raw!r}")
            return {}
        fee_blocks = [blocks[n] for n in FEE_CONTROL_BLOCKS if n in blocks]
        if raw and not fee_blocks:
            self.err("clear_credit", "a credit clear needs a block named 'fee_control'")
        out: dict[str, int] = {}
        for name, value in raw.items():
            out[name] = self.integer(f"clear_credit.{name}", value, -(2**31), 2**32 - 1)
            for block in fee_blocks:
                fld = next((f for f in block.fields if f.name == name), None)
                if fld is None or not fld.writable:
                    self.err(f"clear_credit.{name}", f"not a writable field of block {block.name}")
        return out
