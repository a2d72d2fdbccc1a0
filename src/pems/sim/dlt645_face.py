"""A simulated DL/T 645-2007 meter: frames in, frames out, via pems.devices' codec.

Reads (0x11) answer the data identifiers of ``pems.devices.dlt645_items``;
relay control (0x1C), recharge over 0x03 (070102FF, MAC checked with the
per-meter key) and 0x14 writes of prices and limits act on the meter's state;
the credit clear (``[clear_credit]``, 0x1A) zeroes the credit, only with the
meter's password; 0x08 broadcast time sync sets every clock on the bus and is
not answered. A DL/T 645 meter's identity for its key is its address.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal

from pems.devices.dlt645 import (
    RECHARGE_DI,
    Control,
    Frame,
    RelayAction,
    parse_clear_credit,
    parse_recharge,
)
from pems.devices.dlt645_items import (
    CLEAR_CREDIT,
    ITEMS,
    ITEMS_BY_DI,
    SECURITY_ERROR_BITS,
    bcd_decode,
    decode_value,
    di_bytes,
    encode_value,
)
from pems.devices.dlt645_meter import Dlt645Credentials
from pems.devices.errors import BadFrame, PurchaseReason
from pems.devices.security import MasterKey, verify_purchase_mac
from pems.sim.clock import from_ms, to_ms
from pems.sim.meter import MeterSnapshot, RelayMode, SimMeter
from pems.sim.modbus_face import SITE_TZ

log = logging.getLogger(__name__)
REPLY = 0x80
ERROR = 0xC0
ERR_OTHER, ERR_NO_DATA, ERR_UNAUTHORISED = 0x01, 0x02, 0x04
_SECURITY_BIT = {reason: bit for bit, reason in SECURITY_ERROR_BITS.items()}
_WRITABLE = {
    "price1",
    "price2",
    "price3",
    "price4",
    "alarm1_limit",
    "alarm2_limit",
    "overdraft_limit",
    "hoarding_limit",
}
ItemValue = Decimal | int | tuple[Decimal, ...] | dt.date | dt.time


def meter_address(meter: SimMeter) -> str:
    """The 12-digit address text of a DL/T 645 meter."""
    return f"{meter.address:012d}"


class Dlt645Face:
    """Answers DL/T 645 frames addressed to one meter."""

    def __init__(
        self,
        master_key: MasterKey,
        key_version: int = 1,
        password: bytes = Dlt645Credentials().password,
    ) -> None:
        self._master_key = master_key
        self._key_version = key_version
        self._password = password

    def handle(self, meter: SimMeter, frame: Frame) -> Frame:
        """One request frame → the meter's reply frame."""
        address, function = meter_address(meter), frame.function
        try:
            if function == Control.READ:
                return self._read(meter, frame)
            if function == Control.RELAY:
                return _relay(meter, frame)
            if function == Control.SECURITY:
                return self._recharge(meter, frame)
            if function == Control.WRITE:
                return _write(meter, frame)
            if CLEAR_CREDIT is not None and function == CLEAR_CREDIT.control:
                return self._clear(meter, frame)
            if function == Control.READ_ADDRESS:
                return Frame(address, function | REPLY, bytes.fromhex(address)[::-1])
        except BadFrame:
            return Frame(address, function | ERROR, bytes((ERR_OTHER,)))
        except Exception:  # a simulator bug must not kill the bus: answer "other error"
            log.exception("simulated DL/T 645 meter %s failed on %s", address, frame)
            return Frame(address, function | ERROR, bytes((ERR_OTHER,)))
        return Frame(address, function | ERROR, bytes((ERR_UNAUTHORISED,)))

    def _read(self, meter: SimMeter, frame: Frame) -> Frame:
        address = meter_address(meter)
        di = frame.data[:4][::-1].hex().upper()
        item = ITEMS_BY_DI.get(di)
        values = item_values(meter.snapshot())
        if item is None or item.name not in values:
            return Frame(address, Control.READ | ERROR, bytes((ERR_NO_DATA,)))
        payload = encode_value(item, values[item.name])
        return Frame(address, Control.READ | REPLY, di_bytes(di) + payload)

    def _recharge(self, meter: SimMeter, frame: Frame) -> Frame:
        address = meter_address(meter)
        _operator, recharge = parse_recharge(frame)
        key = self._master_key.meter_key(address, self._key_version)
        valid = verify_purchase_mac(
            key,
            recharge.customer_number,
            recharge.purchase_count,
            recharge.amount_minor,
            recharge.mac,
        )
        result = meter.purchase(
            Decimal(recharge.amount_minor).scaleb(-2),
            recharge.purchase_count,
            mac_valid=valid,
            customer_number=recharge.customer_number,
        )
        if result.reason is None:
            return Frame(address, Control.SECURITY | REPLY, di_bytes(RECHARGE_DI))
        bit = _SECURITY_BIT.get(result.reason.value, _SECURITY_BIT[PurchaseReason.OTHER.value])
        return Frame(address, Control.SECURITY | ERROR, (1 << bit).to_bytes(2, "little"))

    def _clear(self, meter: SimMeter, frame: Frame) -> Frame:
        """The credit clear: refused (ERR unauthorised) without the meter's password."""
        address = meter_address(meter)
        if parse_clear_credit(frame).get("password") != self._password:
            return Frame(address, frame.function | ERROR, bytes((ERR_UNAUTHORISED,)))
        meter.clear_credit()
        return Frame(address, frame.function | REPLY, b"")


def _relay(meter: SimMeter, frame: Frame) -> Frame:
    """0x1C: trip forces the relay open; close releases it; keep-power forces it closed."""
    address = meter_address(meter)
    if len(frame.data) != 16:
        raise BadFrame("relay control data must be 16 bytes")
    action, mode = frame.data[8], meter.relay_mode
    if action == RelayAction.TRIP:
        meter.control(force=True, trip=True)
    elif action in (RelayAction.ALLOW_CLOSE, RelayAction.DIRECT_CLOSE):
        if mode is RelayMode.FORCED_TRIP:
            meter.control(force=False, trip=False)
    elif action == RelayAction.KEEP_POWER_ON:
        meter.control(force=True, trip=False)
    elif action == RelayAction.KEEP_POWER_OFF:
        if mode is RelayMode.KEEP_POWER:
            meter.control(force=False, trip=False)
    elif action not in (RelayAction.ALARM_ON, RelayAction.ALARM_OFF):
        return Frame(address, Control.RELAY | ERROR, bytes((ERR_OTHER,)))
    return Frame(address, Control.RELAY | REPLY, b"")


def _write(meter: SimMeter, frame: Frame) -> Frame:
    """0x14: DI, password (4), operator (4), value."""
    address = meter_address(meter)
    item = ITEMS_BY_DI.get(frame.data[:4][::-1].hex().upper())
    if item is None or item.name not in _WRITABLE:
        return Frame(address, Control.WRITE | ERROR, bytes((ERR_UNAUTHORISED,)))
    value = decode_value(item, frame.data[12:])
    if not isinstance(value, Decimal):
        raise BadFrame(f"{item.name} is not a number")
    if item.name.startswith("price"):
        prices = list(meter.prices)
        prices[int(item.name[-1]) - 1] = value
        meter.configure(prices=(prices[0], prices[1], prices[2], prices[3]))
    elif item.name == "alarm1_limit":
        meter.configure(alarm1=value)
    elif item.name == "alarm2_limit":
        meter.configure(alarm2=value)
    elif item.name == "overdraft_limit":
        meter.configure(overdraft_limit=value)
    else:
        meter.configure(hoarding_limit=value)
    return Frame(address, Control.WRITE | REPLY, b"")


def time_sync(meters: list[SimMeter], frame: Frame) -> None:
    """0x08 broadcast: ssmmhhDDMMYY in local time sets every meter's clock."""
    if len(frame.data) != 6:
        return
    s, mi, h, d, mo, y = (int(bcd_decode(frame.data[i : i + 1], 0)) for i in range(6))
    try:
        local = dt.datetime(2000 + y, mo, d, h, mi, s, tzinfo=SITE_TZ)
    except ValueError:
        return
    for meter in meters:
        meter.set_clock(to_ms(local))


def item_values(snap: MeterSnapshot) -> Mapping[str, ItemValue]:
    """Every data item a simulated DL/T 645 meter can answer, by item name."""
    local = from_ms(snap.clock_ms).astimezone(SITE_TZ)
    credit = snap.credit
    flat = snap.prices[2]
    status_bits = ITEMS["status3"].bits
    status = 0
    if not snap.relay_closed:
        status |= 1 << status_bits["relay_open"]
    if snap.relay_mode is RelayMode.FORCED_TRIP:
        status |= 1 << status_bits["relay_command_trip"]
    if snap.alarm2:
        status |= 1 << status_bits["pre_trip_alarm"]
    amps = tuple(Decimal(c).scaleb(-2) for c in snap.current_ca)
    energy = tuple(e.quantize(Decimal("0.01"), rounding=ROUND_FLOOR) for e in snap.energy_tou)
    total = snap.energy_total.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    return {
        "combined_active_total": total,
        "forward_active_total": total,
        "reverse_active_total": Decimal(0),
        "forward_active_block": (total, *energy),
        "remaining_energy": max(Decimal(0), (credit / flat).quantize(Decimal("0.01"), ROUND_FLOOR))
        if flat
        else Decimal(0),
        "remaining_money": max(credit, Decimal(0)),
        "overdraft_money": max(-credit, Decimal(0)),
        "purchase_count": snap.purchase_count,
        "alarm1_limit": snap.alarm1_threshold,
        "alarm2_limit": snap.alarm2_threshold,
        "overdraft_limit": snap.overdraft_limit,
        "hoarding_limit": snap.hoarding_limit or Decimal(0),
        "close_allowed_limit": Decimal(0),
        "customer_number": snap.customer_number,
        "date": local.date(),
        "time": local.time().replace(microsecond=0),
        "status3": status,
        "voltage_block": tuple(Decimal(v).scaleb(-1) for v in snap.voltage_dv),
        "current_block": amps,
        "active_power_total": Decimal(snap.power_w).scaleb(-3),
        **{f"price{i}": p for i, p in enumerate(snap.prices, start=1)},
    }
