"""DL/T 645-2007 codec: the facts' example frame, replies, errors, and fuzzing."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pems.devices.dlt645 import (
    BROADCAST_ADDRESS,
    Control,
    Frame,
    Recharge,
    RelayAction,
    clear_credit_request,
    decode_frame,
    encode_frame,
    parse_clear_credit,
    parse_recharge,
    raise_for_error,
    read_request,
    recharge_request,
    relay_request,
    reply_payload,
    split_frame,
    time_sync_request,
)
from pems.devices.dlt645_items import (
    CLEAR_CREDIT,
    ITEMS,
    ITEMS_BY_DI,
    bcd_decode,
    bcd_encode,
    decode_value,
    encode_value,
)
from pems.devices.errors import BadFrame, DeviceError, EncodeError, ExceptionResponse

EXAMPLE = bytes.fromhex("FEFEFEFE 68 121078563412 68 11 04 33333433 E8 16".replace(" ", ""))
METER = "123456781012"


def wire(address: str, control: int, plain: bytes) -> bytes:
    """A reply as a meter would send it, computed independently of the codec."""
    head = bytes([0x68, *reversed(bytes.fromhex(address)), 0x68, control, len(plain)])
    body = head + bytes((b + 0x33) % 256 for b in plain)
    return body + bytes([sum(body) % 256, 0x16])


def test_facts_example_encodes_byte_exactly() -> None:
    assert encode_frame(read_request(METER, "00010000")) == EXAMPLE


def test_facts_example_decodes() -> None:
    frame = decode_frame(EXAMPLE)
    assert frame == Frame(METER, 0x11, bytes([0x00, 0x00, 0x01, 0x00]))
    assert frame.function == Control.READ
    assert not frame.is_reply


@pytest.mark.parametrize("preamble", [0, 1, 2, 3, 4])
def test_zero_to_four_preamble_bytes_are_tolerated(preamble: int) -> None:
    assert decode_frame(b"\xfe" * preamble + EXAMPLE[4:]).address == METER


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (EXAMPLE[:-2] + b"\xe9\x16", "checksum 0xE9 != computed 0xE8"),
        (EXAMPLE[:-1] + b"\x17", "end byte is 0x17"),
        (EXAMPLE[:11] + b"\x69" + EXAMPLE[12:], "second start byte"),
        (EXAMPLE[:-3], "truncated"),
        (EXAMPLE + b"\x00", "1 trailing bytes"),
        (b"\x00" + EXAMPLE, "starts with 0x00"),
        (wire("1234567810BF", 0x91, b""), "not BCD"),
    ],
)
def test_corrupt_frames_raise_bad_frame(raw: bytes, message: str) -> None:
    with pytest.raises(BadFrame, match=message):
        decode_frame(raw)


def test_split_frame_waits_for_more_bytes_then_returns_the_frame() -> None:
    assert split_frame(EXAMPLE[:7]) == (None, 4)
    frame, used = split_frame(EXAMPLE + b"\xfe\x68")
    assert frame is not None
    assert used == len(EXAMPLE)


@pytest.mark.parametrize(
    ("di", "payload", "value"),
    [
        ("00900200", bytes.fromhex("56341200"), Decimal("1234.56")),
        ("0001FF00", bytes.fromhex("56341200" "00010000" "00020000" "00030000" "99999999"),
         (Decimal("1234.56"), Decimal("1.00"), Decimal("2.00"), Decimal("3.00"),
          Decimal("999999.99"))),
        ("03330201", bytes.fromhex("1200"), Decimal(12)),
        ("04000101", bytes.fromhex("01231126"), date(2026, 11, 23)),
        ("04000102", bytes.fromhex("585923"), time(23, 59, 58)),
        ("0202FF00", bytes.fromhex("563412" "563492"), (Decimal("123.456"), Decimal("-123.456"))),
        ("04000503", bytes.fromhex("1000"), 0x10),
        ("0400040E", bytes.fromhex("120110785634"), Decimal(345678100112)),
    ],
)  # fmt: skip
def test_item_payloads_decode_exactly(di: str, payload: bytes, value: object) -> None:
    item = ITEMS_BY_DI[di]
    decoded = decode_value(item, payload)
    assert decoded == value
    assert encode_value(item, decoded) == payload


def test_read_reply_over_the_wire() -> None:
    raw = wire(METER, 0x91, bytes.fromhex("00029000") + bytes.fromhex("56341200"))
    frame = decode_frame(raw)
    assert frame.is_reply
    assert not frame.is_error
    payload = reply_payload(frame, METER, "00900200")
    assert decode_value(ITEMS["remaining_money"], payload) == Decimal("1234.56")


@pytest.mark.parametrize(
    ("address", "control", "di", "message"),
    [
        ("123456781013", 0x91, "00900200", "reply from meter 123456781013"),
        (METER, 0x94, "00900200", "does not answer a read"),
        (METER, 0x91, "00900201", "carries DI 00900201"),
    ],
)
def test_mismatched_read_reply_is_a_bad_frame(
    address: str, control: int, di: str, message: str
) -> None:
    frame = decode_frame(wire(address, control, bytes.fromhex(di)[::-1] + b"\x00" * 4))
    with pytest.raises(BadFrame, match=message):
        reply_payload(frame, METER, "00900200")


@pytest.mark.parametrize(
    ("control", "data", "code", "reasons"),
    [
        (0xD1, b"\x02", 2, ("no_data",)),
        (0xDC, b"\x04", 4, ("unauthorised",)),
        (0xD4, b"\x05", 5, ("other", "unauthorised")),
        (0xC3, b"\x20\x00", 0x20, ("count_error",)),
        (0xC3, b"\x42\x00", 0x42, ("duplicate", "hoarding_exceeded")),
    ],
)
def test_error_replies_become_typed_errors(
    control: int, data: bytes, code: int, reasons: tuple[str, ...]
) -> None:
    frame = decode_frame(wire(METER, control, data))
    assert frame.is_error
    with pytest.raises(ExceptionResponse) as caught:
        raise_for_error(frame, endpoint="127.0.0.1:9000")
    assert (caught.value.code, caught.value.reasons) == (code, reasons)
    assert "gateway 127.0.0.1:9000" in str(caught.value)
    assert f"meter {METER}" in str(caught.value)


def test_relay_trip_request_layout() -> None:
    frame = relay_request(
        METER,
        RelayAction.TRIP,
        password=bytes.fromhex("02123456"),
        operator=bytes.fromhex("01020304"),
        valid_until=datetime(2026, 11, 24, 8, 30, 0),
    )
    assert frame.control == 0x1C
    assert frame.data == bytes.fromhex("02123456010203041A00003008241126")
    raw = encode_frame(frame)
    assert raw[14:30] == bytes((b + 0x33) % 256 for b in frame.data)


def test_credit_clear_request_is_the_identifier_tables_0x1a() -> None:
    frame = clear_credit_request(
        METER, password=bytes.fromhex("02123456"), operator=bytes.fromhex("01020304")
    )
    assert CLEAR_CREDIT is not None
    assert (frame.control, CLEAR_CREDIT.data) == (0x1A, ("password", "operator"))
    assert frame.data == bytes.fromhex("0212345601020304")
    assert parse_clear_credit(decode_frame(encode_frame(frame))) == {
        "password": bytes.fromhex("02123456"),
        "operator": bytes.fromhex("01020304"),
    }


def test_a_bad_credit_clear_table_is_refused_with_every_problem(tmp_path) -> None:
    from pems.devices.dlt645_items import _load
    from pems.devices.errors import MapError

    bad = tmp_path / "ids.toml"
    bad.write_text('[clear_credit]\ncontrol = 0x9A\ndata = ["password", "pin"]\n')
    with pytest.raises(MapError) as caught:
        _load(bad)
    assert "clear_credit.control: expected a control code 0x01..0x1F, got 154" in str(caught.value)
    assert "clear_credit.data: expected a list of password, operator" in str(caught.value)


def test_broadcast_time_sync_layout() -> None:
    frame = time_sync_request(datetime(2026, 1, 2, 3, 4, 5))
    assert frame.address == BROADCAST_ADDRESS
    assert frame.control == 0x08
    assert frame.data == bytes.fromhex("050403020126")
    assert encode_frame(frame)[4:11] == bytes.fromhex("68999999999999")


def test_recharge_request_layout_and_round_trip() -> None:
    recharge = Recharge(amount_minor=10_000, purchase_count=3, mac=b"\xde\xad\xbe\xef",
                        customer_number=112233445566)  # fmt: skip
    frame = recharge_request(METER, b"\x01\x00\x00\x00", recharge)
    assert frame.control == 0x03
    assert frame.data == bytes.fromhex(
        "FF020107010000001027000003000000DEADBEEF665544332211DEADBEEF"
    )
    assert parse_recharge(decode_frame(encode_frame(frame))) == (b"\x01\x00\x00\x00", recharge)


@pytest.mark.parametrize(
    ("value", "size", "decimals", "signed", "message"),
    [
        (Decimal("1.005"), 4, 2, False, "more than 2 decimals"),
        (Decimal("1000000.00"), 4, 2, False, "does not fit"),
        (Decimal("-1"), 4, 2, False, "does not fit"),
        (Decimal("800000"), 3, 0, True, "signed"),
    ],
)
def test_bcd_encode_refuses_values_that_do_not_fit(
    value: Decimal, size: int, decimals: int, signed: bool, message: str
) -> None:
    with pytest.raises(EncodeError, match=message):
        bcd_encode(value, size, decimals, signed=signed)


addresses = st.text(alphabet="0123456789", min_size=12, max_size=12)


@given(addresses, st.integers(0, 255), st.binary(max_size=200), st.integers(0, 4))
def test_frame_round_trip(address: str, control: int, data: bytes, preamble: int) -> None:
    frame = Frame(address, control, data)
    assert decode_frame(encode_frame(frame, preamble=b"\xfe" * preamble)) == frame


@given(st.integers(0, 8 * 10**7 - 1), st.integers(0, 4), st.booleans())
def test_bcd_round_trip(magnitude: int, decimals: int, negative: bool) -> None:
    value = Decimal(-magnitude if negative else magnitude).scaleb(-decimals)
    assert bcd_decode(bcd_encode(value, 4, decimals, signed=True), decimals, signed=True) == value


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_protocol_errors(raw: bytes) -> None:
    try:
        frame = decode_frame(raw)
        raise_for_error(frame)
        parse_recharge(frame)
    except DeviceError:
        pass


@given(st.binary(max_size=300))
def test_random_stream_bytes_raise_only_protocol_errors(raw: bytes) -> None:
    with contextlib.suppress(DeviceError):
        split_frame(raw)


@given(st.sampled_from(sorted(ITEMS)), st.binary(max_size=24))
def test_random_payloads_raise_only_protocol_errors(name: str, payload: bytes) -> None:
    with contextlib.suppress(DeviceError):
        decode_value(ITEMS[name], payload)


@given(st.binary(min_size=12, max_size=40).map(lambda b: b"\x68" + b[:6] + b"\x68" + b[6:]))
def test_near_miss_frames_raise_only_protocol_errors(raw: bytes) -> None:
    with contextlib.suppress(DeviceError):
        decode_frame(raw)
