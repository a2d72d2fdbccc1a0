"""Key diversification, retail MAC and master-key handling.

The expected values are computed here a second way (single-DES building
blocks, step by step), and the ciphers are pinned by published vectors.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from Crypto.Cipher import DES, DES3
from hypothesis import given
from hypothesis import strategies as st

from pems.devices.security import (
    DEV_MASTER_KEY_HEX,
    KeyConfigError,
    MasterKey,
    MeterKey,
    diversify,
    meter_id8,
    purchase_mac,
    purchase_message,
    retail_mac,
    verify_purchase_mac,
)

MK_HEX = "0123456789ABCDEFFEDCBA9876543210"
MK = bytes.fromhex(MK_HEX)


def test_des_known_answer() -> None:
    """FIPS 46 worked example (key 133457799BBCDFF1)."""
    cipher = DES.new(bytes.fromhex("133457799BBCDFF1"), DES.MODE_ECB)  # noqa: S304
    assert cipher.encrypt(bytes.fromhex("0123456789ABCDEF")) == bytes.fromhex("85E813540F0AB405")


def test_3des_known_answer() -> None:
    """NIST SP 800-67 example."""
    key = bytes.fromhex("0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123")
    cipher = DES3.new(key, DES3.MODE_ECB)
    assert cipher.encrypt(b"The qufck brown fox jump") == bytes.fromhex(
        "A826FD8CE53B855FCCE21C8112256FE668D5C05DD9B6B900"
    )


def ede(key16: bytes, block: bytes) -> bytes:
    """Two-key triple DES of one block, from single-DES steps."""
    k1 = DES.new(key16[:8], DES.MODE_ECB)  # noqa: S304
    k2 = DES.new(key16[8:], DES.MODE_ECB)  # noqa: S304
    return k1.encrypt(k2.decrypt(k1.encrypt(block)))


def reference_mac(key16: bytes, data: bytes) -> bytes:
    """Retail MAC as 'CBC-DES over all but the last block, then 3DES on the last'."""
    padded = data + b"\x80"
    while len(padded) % 8:
        padded += b"\x00"
    head, last = padded[:-8], padded[-8:]
    chain = bytes(8)
    if head:
        cbc = DES.new(key16[:8], DES.MODE_CBC, iv=bytes(8))  # noqa: S304
        chain = cbc.encrypt(head)[-8:]
    return ede(key16, bytes(a ^ b for a, b in zip(chain, last, strict=True)))[:4]


def test_meter_id8_is_padded_bcd() -> None:
    assert meter_id8("123456781012") == bytes.fromhex("0000123456781012")
    assert meter_id8(42) == bytes.fromhex("0000000000000042")
    with pytest.raises(ValueError, match="12 decimal digits"):
        meter_id8("12345678101A")


def test_diversification_matches_step_by_step_computation() -> None:
    id8 = bytes.fromhex("0000123456781012")
    expected = ede(MK, id8) + ede(MK, bytes(b ^ 0xFF for b in id8))
    assert diversify(MK, "123456781012") == expected
    assert diversify(MK, "123456781012") != diversify(MK, "123456781013")


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 15, 16, 21, 64])
def test_retail_mac_matches_reference(length: int) -> None:
    key = diversify(MK, "000000000001")
    data = bytes(range(length))
    assert retail_mac(key, data) == reference_mac(key, data)


@given(st.binary(min_size=16, max_size=16), st.binary(max_size=80))
def test_retail_mac_matches_reference_for_any_input(key: bytes, data: bytes) -> None:
    assert retail_mac(key, data) == reference_mac(key, data)


def test_padding_method_2_distinguishes_trailing_zero() -> None:
    key = diversify(MK, "000000000001")
    assert retail_mac(key, b"\x01") != retail_mac(key, b"\x01\x00")


def test_purchase_message_layout() -> None:
    message = purchase_message("123456781012", 112233445566, 7, 10_000)
    assert message == bytes.fromhex("123456781012112233445566000000070000271001")


def test_purchase_mac_binds_every_field() -> None:
    key = MasterKey.parse(MK_HEX).meter_key("123456781012", version=1)
    mac = purchase_mac(key, 0, 7, 10_000)
    assert mac == reference_mac(diversify(MK, "123456781012"), purchase_message(
        "123456781012", 0, 7, 10_000))  # fmt: skip
    assert verify_purchase_mac(key, 0, 7, 10_000, mac)
    assert not verify_purchase_mac(key, 0, 8, 10_000, mac)
    assert not verify_purchase_mac(key, 0, 7, 10_001, mac)
    assert not verify_purchase_mac(key, 1, 7, 10_000, mac)
    other = MasterKey.parse(MK_HEX).meter_key("123456781013", version=1)
    assert not verify_purchase_mac(other, 0, 7, 10_000, mac)


def test_key_versions_give_different_keys() -> None:
    keys = MasterKey.parse(f"1:{MK_HEX}, 2:{'11' * 8}{'22' * 8}")
    assert keys.versions == (1, 2)
    one = keys.meter_key("000000000123", 1)
    two = keys.meter_key("000000000123", 2)
    assert one.mac(b"x") != two.mac(b"x")
    with pytest.raises(KeyConfigError, match="version 3 is not configured"):
        keys.meter_key("000000000123", 3)


def test_keys_never_appear_in_repr_or_errors() -> None:
    keys = MasterKey.parse(MK_HEX)
    meter_key = keys.meter_key(5, 1)
    assert MK_HEX.lower() not in repr(keys).lower()
    assert "hidden" in repr(keys)
    assert diversify(MK, 5).hex() not in repr(meter_key).lower()
    assert isinstance(meter_key, MeterKey)
    with pytest.raises(KeyConfigError) as caught:
        MasterKey.parse("1:0123456789ABCDEFXX")
    assert "0123456789ABCDEF" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("00112233", "not a valid 3DES key"),
        ("0123456789ABCDEF0123456789ABCDEF", "not a valid 3DES key"),  # K1 == K2
        (f"1:{MK_HEX} 1:{MK_HEX}", "given twice"),
        (f"0:{MK_HEX}", "version must be"),
        ("", "no master key"),
    ],
)
def test_bad_master_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message):
        MasterKey.parse(text)


def test_master_key_from_env_inline_and_file(tmp_path: Path) -> None:
    inline = MasterKey.from_env({"PEMS_MASTER_KEY": MK_HEX})
    path = tmp_path / "mk"
    path.write_text(f"2:{MK_HEX}\n")
    from_file = MasterKey.from_env({"PEMS_MASTER_KEY_FILE": str(path)})
    assert inline.versions == (1,)
    assert from_file.versions == (2,)
    assert inline.meter_key(9, 1).mac(b"a") == from_file.meter_key(9, 2).mac(b"a")


def test_dev_key_is_public_and_announced(caplog: pytest.LogCaptureFixture) -> None:
    keys = MasterKey.from_env({"PEMS_MASTER_KEY": "dev"})
    assert keys.meter_key(1, 1).mac(b"a") == MasterKey.parse(DEV_MASTER_KEY_HEX).meter_key(
        1, 1
    ).mac(b"a")
    assert "development master key" in caplog.text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set PEMS_MASTER_KEY"),
        ({"PEMS_MASTER_KEY": MK_HEX, "PEMS_MASTER_KEY_FILE": "/x"}, "only one"),
        ({"PEMS_MASTER_KEY_FILE": "/nonexistent/pems-key"}, "cannot read"),
    ],
)
def test_master_key_env_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(KeyConfigError, match=message):
        MasterKey.from_env(env)


@given(st.text(max_size=80))
def test_any_key_text_parses_or_raises_key_config_error(text: str) -> None:
    with contextlib.suppress(KeyConfigError):
        assert MasterKey.parse(text).versions
