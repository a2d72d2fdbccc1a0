"""The import sheet's columns: names are a stable public contract (docs/site-plan-sheet.md)."""

from __future__ import annotations

from typing import Final

from pems.siteplan.model import Gateway

#: Every column, in the order :func:`pems.siteplan.sheet.write_sheet` writes them.
#: Readers accept any order but require exactly this set.
COLUMNS: Final[tuple[str, ...]] = (
    "site",
    "gateway",
    "gateway_host",
    "gateway_port",
    "gateway_protocol",
    "baud",
    "data_bits",
    "parity",
    "stop_bits",
    "area_kind",
    "area",
    "floor",
    "room",
    "meter_address",
    "meter_number",
    "model",
    "box",
    "circuit",
    "phases",
    "ct_ratio",
    "pt_ratio",
    "fee_control",
    "initial_credit",
    "price_sharp",
    "price_peak",
    "price_flat",
    "price_valley",
    "alarm1_threshold",
    "alarm2_threshold",
    "overdraft_limit",
    "hoarding_limit",
)

#: Columns that describe the gateway and must repeat identically on its rows.
GATEWAY_COLUMNS: Final[tuple[str, ...]] = (
    "gateway_host",
    "gateway_port",
    "gateway_protocol",
    "baud",
    "data_bits",
    "parity",
    "stop_bits",
)

#: Columns written as numbers in XLSX (everything else is a text cell).
NUMERIC_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "gateway_port",
        "baud",
        "data_bits",
        "stop_bits",
        "circuit",
        "phases",
        "ct_ratio",
        "pt_ratio",
        "initial_credit",
        "price_sharp",
        "price_peak",
        "price_flat",
        "price_valley",
        "alarm1_threshold",
        "alarm2_threshold",
        "overdraft_limit",
        "hoarding_limit",
    }
)

#: Baud rates a gateway's serial side may use.
BAUD_RATES: Final[frozenset[int]] = frozenset({1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200})


def gateway_cells(gateway: Gateway) -> dict[str, str]:
    """A gateway's own columns as the sheet writes them."""
    serial = gateway.serial
    return {
        "gateway_host": gateway.host,
        "gateway_port": str(gateway.port),
        "gateway_protocol": gateway.protocol.value,
        "baud": str(serial.baud),
        "data_bits": str(serial.data_bits),
        "parity": serial.parity.value,
        "stop_bits": str(serial.stop_bits),
    }
