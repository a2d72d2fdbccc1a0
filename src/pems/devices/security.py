"""Per-meter keys and MACs for credit and control commands.

* Key diversification (PBOC style):
  ``K = 3DES_ECB(MK, ID8) ‖ 3DES_ECB(MK, ID8 XOR FF…FF)`` where ``ID8`` is
  the 12-digit meter number as 6 BCD bytes, left-padded with two 0x00 bytes.
* MAC: ISO/IEC 9797-1 algorithm 3 ("retail MAC"), padding method 2, DES,
  truncated to 4 bytes.
* Purchase MAC input: ``meter number (6 BCD) ‖ customer number (6 BCD) ‖
  purchase count (u32 BE) ‖ amount in minor units (u32 BE) ‖ command id (1)``.

The master key comes from the environment (``PEMS_MASTER_KEY``, hex) or a file
(``PEMS_MASTER_KEY_FILE``); either holds one key (version 1) or several as
``version:hex`` entries separated by commas or whitespace.  Keys never appear
in ``repr`` or logs.  ``PEMS_MASTER_KEY=dev`` selects the public development
key :data:`DEV_MASTER_KEY_HEX` (for the simulator and demos) with a warning.
"""

from __future__ import annotations

import enum
import hmac
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from Crypto.Cipher import DES, DES3

MAC_LENGTH = 4
ENV_KEY = "PEMS_MASTER_KEY"
ENV_KEY_FILE = "PEMS_MASTER_KEY_FILE"
DEV_MASTER_KEY_HEX = "0123456789ABCDEFFEDCBA9876543210"
"""Public development master key: for simulators and demos only, never for real meters."""

log = logging.getLogger(__name__)


class KeyConfigError(ValueError):
    """The master key is missing, malformed, or of an unknown version."""


class CommandId(enum.IntEnum):
    """Command id bound into a MAC, so a MAC for one command cannot serve another."""

    PURCHASE = 0x01


def meter_id8(meter_number: str | int) -> bytes:
    """12-digit meter number → 8-byte identity (``00 00`` ‖ 6 BCD bytes)."""
    return b"\x00\x00" + _bcd6(meter_number, "meter number")


def _bcd6(number: str | int, what: str) -> bytes:
    text = f"{number:012d}" if isinstance(number, int) else number
    if len(text) != 12 or not text.isdecimal():
        raise ValueError(f"{what} must be 12 decimal digits, got {number!r}")
    return bytes.fromhex(text)


def diversify(master_key: bytes, meter_number: str | int) -> bytes:
    """Derive the 16-byte per-meter key from a 16- or 24-byte 3DES master key."""
    try:
        cipher = DES3.new(master_key, DES3.MODE_ECB)
    except ValueError as exc:
        raise KeyConfigError(f"master key is not a valid 3DES key: {exc}") from None
    id8 = meter_id8(meter_number)
    inverted = bytes(b ^ 0xFF for b in id8)
    return cipher.encrypt(id8) + cipher.encrypt(inverted)


def retail_mac(key: bytes, data: bytes, length: int = MAC_LENGTH) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with padding method 2 (DES, 16-byte key)."""
    if len(key) != 16:
        raise ValueError("retail MAC needs a 16-byte key (K1 ‖ K2)")
    padded = data + b"\x80" + b"\x00" * ((7 - len(data)) % 8)
    # Single DES is what ISO 9797-1 alg. 3 specifies; the 2-key final step makes it 3DES-strong.
    k1 = DES.new(key[:8], DES.MODE_ECB)  # noqa: S304
    k2 = DES.new(key[8:], DES.MODE_ECB)  # noqa: S304
    state = bytes(8)
    for i in range(0, len(padded), 8):
        state = k1.encrypt(bytes(a ^ b for a, b in zip(state, padded[i : i + 8], strict=True)))
    return k1.encrypt(k2.decrypt(state))[:length]


class MeterKey:
    """A diversified per-meter key; its bytes never show in ``repr``."""

    __slots__ = ("_key", "meter_number", "version")

    def __init__(self, key: bytes, meter_number: str, version: int) -> None:
        if len(key) != 16:
            raise ValueError("a meter key is 16 bytes")
        self._key = key
        self.meter_number = meter_number
        self.version = version

    def __repr__(self) -> str:
        return f"MeterKey(meter={self.meter_number}, version={self.version}, key=<hidden>)"

    def mac(self, data: bytes) -> bytes:
        """4-byte retail MAC of ``data`` under this key."""
        return retail_mac(self._key, data)


def purchase_message(
    meter_number: str | int,
    customer_number: str | int,
    purchase_count: int,
    amount_minor: int,
    command: CommandId = CommandId.PURCHASE,
) -> bytes:
    """The exact bytes a purchase MAC covers."""
    if not 0 <= purchase_count <= 0xFFFFFFFF or not 0 <= amount_minor <= 0xFFFFFFFF:
        raise ValueError("purchase count and amount must fit in 32 unsigned bits")
    return (
        _bcd6(meter_number, "meter number")
        + _bcd6(customer_number, "customer number")
        + purchase_count.to_bytes(4, "big")
        + amount_minor.to_bytes(4, "big")
        + bytes((command,))
    )


def purchase_mac(
    key: MeterKey, customer_number: str | int, purchase_count: int, amount_minor: int
) -> bytes:
    """MAC a meter checks before accepting a purchase (the key knows the meter)."""
    return key.mac(
        purchase_message(key.meter_number, customer_number, purchase_count, amount_minor)
    )


def verify_purchase_mac(
    key: MeterKey, customer_number: str | int, purchase_count: int, amount_minor: int, mac: bytes
) -> bool:
    """Constant-time check of a purchase MAC (what a meter, or the simulator, does)."""
    expected = purchase_mac(key, customer_number, purchase_count, amount_minor)
    return hmac.compare_digest(expected, mac)


class MasterKey:
    """The versioned master keys; derives per-meter keys on use."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        if not keys:
            raise KeyConfigError("no master key configured")
        for version, key in keys.items():
            diversify(key, 0)  # validates length and 3DES degeneracy now, not at first sale
            if version < 1:
                raise KeyConfigError(f"key version must be ≥ 1, got {version}")
        self._keys = dict(keys)

    def __repr__(self) -> str:
        return f"MasterKey(versions={sorted(self._keys)}, keys=<hidden>)"

    @property
    def versions(self) -> tuple[int, ...]:
        """Configured key versions, ascending."""
        return tuple(sorted(self._keys))

    def meter_key(self, meter_number: str | int, version: int) -> MeterKey:
        """The diversified key of one meter under master-key ``version``."""
        try:
            master = self._keys[version]
        except KeyError:
            raise KeyConfigError(
                f"master key version {version} is not configured (have {self.versions})"
            ) from None
        number = f"{meter_number:012d}" if isinstance(meter_number, int) else meter_number
        return MeterKey(diversify(master, number), number, version)

    @classmethod
    def parse(cls, text: str) -> MasterKey:
        """Parse ``hex`` or ``version:hex[, version:hex…]``."""
        entries = text.replace(",", " ").split()
        keys: dict[int, bytes] = {}
        for entry in entries:
            version_text, _, hex_key = entry.rpartition(":")
            try:
                version = int(version_text) if version_text else 1
                key = bytes.fromhex(hex_key)
            except ValueError:
                raise KeyConfigError(
                    "master key entry is not 'hex' or 'version:hex' (value hidden)"
                ) from None
            if version in keys:
                raise KeyConfigError(f"master key version {version} given twice")
            keys[version] = key
        return cls(keys)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MasterKey:
        """Load from ``PEMS_MASTER_KEY`` or the file named by ``PEMS_MASTER_KEY_FILE``."""
        env = os.environ if environ is None else environ
        inline, path = env.get(ENV_KEY), env.get(ENV_KEY_FILE)
        if inline and path:
            raise KeyConfigError(f"set only one of {ENV_KEY} and {ENV_KEY_FILE}")
        if inline == "dev":
            log.warning("using the public development master key: not for real meters")
            return cls.parse(DEV_MASTER_KEY_HEX)
        if inline:
            return cls.parse(inline)
        if path:
            try:
                return cls.parse(Path(path).read_text(encoding="ascii"))
            except (OSError, UnicodeDecodeError) as exc:
                raise KeyConfigError(f"cannot read {ENV_KEY_FILE}={path}: {exc}") from None
        raise KeyConfigError(f"no master key: set {ENV_KEY} (hex) or {ENV_KEY_FILE} (path)")
