"""Open buses and pick the driver for a model code."""

from __future__ import annotations

from datetime import tzinfo

from pems.devices.acrel import ACREL_MODELS, AcrelMeter
from pems.devices.bus import BusConfig, Framing, ModbusBus
from pems.devices.dlt645_bus import Dlt645Bus
from pems.devices.dlt645_meter import DLT645_MODEL, Dlt645Credentials, Dlt645Meter
from pems.devices.records import MeterDriver
from pems.devices.water import WATER_MODEL, WaterMeter


def open_bus(config: BusConfig) -> ModbusBus | Dlt645Bus:
    """The bus object for a gateway endpoint (connects lazily on the first request).

    ``Framing(protocol_text)`` accepts the site plan's protocol names
    (``modbus-rtu-over-tcp``, ``modbus-tcp``, ``dlt645-over-tcp``).
    """
    if config.framing is Framing.DLT645:
        return Dlt645Bus(config)
    return ModbusBus(config)


def make_driver(
    model: str,
    bus: ModbusBus | Dlt645Bus,
    address: int | str,
    tz: tzinfo,
    *,
    with_control: bool = False,
    customer_number: int = 0,
    credentials: Dlt645Credentials | None = None,
) -> MeterDriver:
    """The driver for ``model`` at ``address`` on ``bus``.

    Modbus models take an integer address 1..247; ``DLT645-GENERIC`` takes the
    meter's 12-digit address.  ``with_control`` applies to Acrel models (read
    the keep-power/forced state with every reading); ``customer_number`` and
    ``credentials`` to DL/T 645 meters.
    """
    if model == DLT645_MODEL:
        if not isinstance(bus, Dlt645Bus):
            raise TypeError(f"{model} needs a Dlt645Bus, got {type(bus).__name__}")
        return Dlt645Meter(
            bus, str(address), tz, credentials=credentials, customer_number=customer_number
        )
    if not isinstance(bus, ModbusBus):
        raise TypeError(f"{model} needs a ModbusBus, got {type(bus).__name__}")
    if isinstance(address, str):
        raise TypeError(f"{model} needs an integer Modbus address, got {address!r}")
    if model in ACREL_MODELS:
        return AcrelMeter(bus, address, model, tz, with_control=with_control)
    if model == WATER_MODEL:
        return WaterMeter(bus, address, tz)
    raise ValueError(f"no driver for model {model!r}")
