"""Field-device layer: register maps as data, codecs, security, and async meter drivers.

Pure Python (no Django).  Modules:

* :mod:`~pems.devices.maps` / :mod:`~pems.devices.registers` / :mod:`~pems.devices.mapfile` —
  Modbus register maps (TOML under ``maps/``), validated at import; the
  ``words → integer → Decimal`` pipeline and its inverse.
* :mod:`~pems.devices.dlt645` / :mod:`~pems.devices.dlt645_items` — DL/T 645-2007 frames,
  request builders, data identifiers (``maps/_dlt645_identifiers.toml``).
* :mod:`~pems.devices.security` — per-meter 3DES keys and retail MACs.
* :mod:`~pems.devices.errors` — retryable vs terminal device errors.
* :mod:`~pems.devices.records` — ``MeterState`` and the ``MeterDriver`` protocol.
* :mod:`~pems.devices.bus` / :mod:`~pems.devices.dlt645_bus` — one connection per bus.
* :mod:`~pems.devices.acrel`, :mod:`~pems.devices.water`, :mod:`~pems.devices.dlt645_meter`,
  :mod:`~pems.devices.drivers` — the drivers and ``make_driver``.

See ``README.md`` next to this file for the conventions a field engineer may need to change.
"""
