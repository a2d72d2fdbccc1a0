"""Modbus register maps as validated data, and the one decode/encode pipeline.

A map file (TOML, under ``maps/``) describes *blocks* — runs of holding
registers read or written in one transaction — and the *fields* inside them.
Decoding is always ``words → integer → Decimal``: the words of a field are
joined big-endian (high word first), sign-extended for ``i16``/``i32``, and
multiplied by ``10 ** scale`` exactly.  Encoding runs the same steps
backwards and refuses any value that would lose a digit.

Status words carry *parts*: named bit ranges (``lsb``, ``width``); a part of
width 1 is a flag.  Parts are data too, so a field engineer can move a bit
without touching code.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise

from pems.devices.errors import BadFrame, EncodeError

MAX_BLOCK_REGISTERS = 125
"""Largest read one Modbus-RTU frame can carry (256-byte ADU)."""

_WORDS = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "bcd12": 3}


class FieldType(enum.Enum):
    """Wire type of a field: word count, signedness, or 12-digit BCD."""

    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    BCD12 = "bcd12"

    @property
    def words(self) -> int:
        """Number of 16-bit registers the field occupies."""
        return _WORDS[self.value]

    @property
    def signed(self) -> bool:
        """True for two's-complement types."""
        return self.value in ("i16", "i32")

    @property
    def raw_range(self) -> tuple[int, int]:
        """Inclusive range of the raw integer."""
        if self is FieldType.BCD12:
            return 0, 10**12 - 1
        bits = 16 * self.words
        if self.signed:
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return 0, (1 << bits) - 1


@dataclass(frozen=True, slots=True)
class BitPart:
    """A named bit range inside a field; ``width == 1`` makes it a flag."""

    name: str
    lsb: int
    width: int
    doc: str = ""

    def extract(self, raw: int) -> int:
        """Return this part's value from the field's unsigned raw value."""
        return (raw >> self.lsb) & ((1 << self.width) - 1)


@dataclass(frozen=True, slots=True)
class Field:
    """One value at an absolute register address."""

    name: str
    address: int
    type: FieldType
    scale: int = 0
    unit: str = ""
    writable: bool = False
    doc: str = ""
    parts: tuple[BitPart, ...] = ()
    # Derived once from ``type``: encoding and decoding run for every meter on every sweep.
    words: int = field(init=False, repr=False, compare=False)
    low: int = field(init=False, repr=False, compare=False)
    high: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", self.type.words)
        low, high = self.type.raw_range
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def end(self) -> int:
        """First register address after this field."""
        return self.address + self.words

    def words_to_raw(self, words: Sequence[int]) -> int:
        """Join the field's words (high word first) into its raw integer."""
        if len(words) != self.words:
            raise BadFrame(f"field {self.name}: expected {self.words} words, got {len(words)}")
        for word in words:
            if not 0 <= word <= 0xFFFF:
                raise BadFrame(f"field {self.name}: register value {word} is not 16-bit")
        if self.type is FieldType.BCD12:
            return _bcd_words_to_int(self.name, words)
        raw = 0
        for word in words:
            raw = (raw << 16) | word
        if self.type.signed and raw >= 1 << (16 * self.words - 1):
            raw -= 1 << (16 * self.words)
        return raw

    def raw_to_words(self, raw: int) -> tuple[int, ...]:
        """Split a raw integer into the field's words; rejects out-of-range values."""
        if not self.low <= raw <= self.high:
            raise EncodeError(f"field {self.name}: raw value {raw} outside {self.low}..{self.high}")
        if self.words == 1:
            return (raw & 0xFFFF,)
        if self.words == 2:
            return ((raw >> 16) & 0xFFFF, raw & 0xFFFF)
        digits = f"{raw:012d}"  # BCD12
        return tuple(int(digits[i : i + 4], 16) for i in range(0, 12, 4))

    def raw_to_value(self, raw: int) -> Decimal:
        """Apply the decimal scale exactly: ``raw × 10**scale``."""
        return Decimal(raw).scaleb(self.scale)

    def value_to_raw(self, value: Decimal | int) -> int:
        """Invert :meth:`raw_to_value`; refuses values that would lose digits."""
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise EncodeError(f"field {self.name}: expected int or Decimal, got {value!r}")
        if isinstance(value, int) and self.scale <= 0:
            return int(value * 10 ** (-self.scale))
        scaled = Decimal(value).scaleb(-self.scale)
        if not scaled.is_finite() or scaled != scaled.to_integral_value():
            raise EncodeError(
                f"field {self.name}: {value} is not a multiple of 10^{self.scale} {self.unit}"
            )
        return int(scaled)

    def encode(self, value: Decimal | int) -> tuple[int, ...]:
        """Value → raw integer → words."""
        return self.raw_to_words(self.value_to_raw(value))


@dataclass(frozen=True, slots=True)
class BlockValues:
    """The decoded fields of one block read (raw integers, scaled on demand)."""

    block: Block
    raw: Mapping[str, int]

    def decimal(self, name: str) -> Decimal:
        """The field's scaled value."""
        return self.block.field(name).raw_to_value(self.raw[name])

    def integer(self, name: str) -> int:
        """The field's raw integer (for counts, codes and identifiers)."""
        self.block.field(name)
        return self.raw[name]

    def part(self, name: str) -> int:
        """The value of a named bit part of any field in the block."""
        owner, part = self.block.part(name)
        unsigned = self.raw[owner.name] % (1 << (16 * owner.type.words))
        return part.extract(unsigned)

    def flag(self, name: str) -> bool:
        """A one-bit part as a boolean."""
        return self.part(name) == 1


@dataclass(frozen=True, slots=True)
class Block:
    """A contiguous run of registers read with one request."""

    name: str
    start: int
    count: int
    doc: str = ""
    fields: tuple[Field, ...] = ()
    _by_name: Mapping[str, Field] = field(default_factory=dict, repr=False, compare=False)
    _parts: Mapping[str, tuple[Field, BitPart]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _plan: tuple[tuple[str, int, int, bool], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        # Lookup tables built once: decoding runs for every meter on every sweep.
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})
        parts = {p.name: (f, p) for f in self.fields for p in f.parts}
        object.__setattr__(self, "_parts", parts)
        plan = tuple(
            (f.name, f.address - self.start, f.type.words, f.type.signed)
            for f in self.fields
            if f.type is not FieldType.BCD12
        )
        object.__setattr__(self, "_plan", plan)

    @property
    def end(self) -> int:
        """First register address after the block."""
        return self.start + self.count

    def field(self, name: str) -> Field:
        """Look a field up by name."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"block {self.name} has no field {name!r}") from None

    def part(self, name: str) -> tuple[Field, BitPart]:
        """Find a bit part (and the field holding it) by name."""
        try:
            return self._parts[name]
        except KeyError:
            raise KeyError(f"block {self.name} has no bit part {name!r}") from None

    def decode(self, words: Sequence[int]) -> BlockValues:
        """Decode a full read of this block (same result as each field's ``words_to_raw``)."""
        if len(words) != self.count:
            raise BadFrame(f"block {self.name}: expected {self.count} registers, got {len(words)}")
        if words and (min(words) < 0 or max(words) > 0xFFFF):
            raise BadFrame(f"block {self.name}: register values must be 16-bit")
        raw: dict[str, int] = {}
        for name, offset, count, signed in self._plan:
            value = words[offset] if count == 1 else words[offset] << 16 | words[offset + 1]
            if signed and value >> (16 * count - 1):
                value -= 1 << (16 * count)
            raw[name] = value
        for fld in self.fields:
            if fld.type is FieldType.BCD12:
                offset = fld.address - self.start
                raw[fld.name] = fld.words_to_raw(words[offset : offset + 3])
        return BlockValues(self, raw)

    def encode(self, values: Mapping[str, Decimal | int], *, fill: int = 0) -> list[int]:
        """Encode a full image of the block (unnamed fields and gaps get ``fill``)."""
        unknown = set(values) - set(self._by_name)
        if unknown:
            raise EncodeError(f"block {self.name}: unknown fields {sorted(unknown)}")
        words = [fill] * self.count
        for name, value in values.items():
            fld = self._by_name[name]
            words[fld.address - self.start : fld.end - self.start] = fld.encode(value)
        return words

    def encode_write(self, values: Mapping[str, Decimal | int]) -> tuple[int, list[int]]:
        """Encode writable fields that form one contiguous run: (start address, words)."""
        if not values:
            raise EncodeError(f"block {self.name}: nothing to write")
        fields = sorted((self.field(n) for n in values), key=lambda f: f.address)
        for fld in fields:
            if not fld.writable:
                raise EncodeError(f"block {self.name}: field {fld.name} is read-only")
        for before, after in pairwise(fields):
            if before.end != after.address:
                raise EncodeError(
                    f"block {self.name}: fields {before.name} and {after.name} are not adjacent"
                )
        words: list[int] = []
        for fld in fields:
            words.extend(fld.encode(values[fld.name]))
        return fields[0].address, words


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """Everything PEMS knows about one meter model's Modbus interface."""

    model: str
    description: str
    type_code: int
    phases: int
    energy_unit: str
    clock_year_base: int
    blocks: Mapping[str, Block]
    commands: Mapping[str, tuple[int, ...]]
    purchase_results: Mapping[int, str]
    source: str = ""
    #: Fee-control fields written (one FC16) to clear the meter's credit; empty when
    #: the model cannot.
    clear_credit: Mapping[str, int] = field(default_factory=dict)

    def block(self, name: str) -> Block:
        """Look a block up by name; the error names the map file."""
        try:
            return self.blocks[name]
        except KeyError:
            raise KeyError(f"map {self.model} ({self.source}) has no block {name!r}") from None

    def command(self, name: str) -> tuple[int, ...]:
        """Words written to the ``control`` block for a named command."""
        try:
            return self.commands[name]
        except KeyError:
            raise KeyError(f"map {self.model} has no command {name!r}") from None

    def purchase_result_code(self, name: str) -> int:
        """Register value of a named purchase result (``"accepted"``, ``"duplicate"`` …)."""
        for code, result in self.purchase_results.items():
            if result == name:
                return code
        raise KeyError(f"map {self.model} has no purchase result {name!r}")


def _bcd_words_to_int(name: str, words: Sequence[int]) -> int:
    digits = "".join(f"{w:04X}" for w in words)
    if not digits.isdecimal():
        raise BadFrame(f"field {name}: {digits} is not BCD")
    return int(digits)
