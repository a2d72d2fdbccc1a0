"""Register maps of every Modbus meter model, loaded and validated at import.

Model codes are the names used everywhere in PEMS (catalogue, site plans).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from pems.devices.mapfile import load_map_file
from pems.devices.registers import RegisterMap

MAP_DIR = Path(__file__).parent


def _load_all() -> dict[str, RegisterMap]:
    maps: dict[str, RegisterMap] = {}
    for path in sorted(MAP_DIR.glob("[!_]*.toml")):
        loaded = load_map_file(path)
        if loaded.model in maps:
            raise ValueError(f"{path.name}: model {loaded.model} already defined")
        maps[loaded.model] = loaded
    return maps


MODBUS_MAPS = MappingProxyType(_load_all())
"""Model code → validated :class:`RegisterMap`."""


def get_map(model: str) -> RegisterMap:
    """The register map of a Modbus model; ``KeyError`` names the known models."""
    try:
        return MODBUS_MAPS[model]
    except KeyError:
        raise KeyError(
            f"no Modbus register map for model {model!r}; known: {', '.join(sorted(MODBUS_MAPS))}"
        ) from None
