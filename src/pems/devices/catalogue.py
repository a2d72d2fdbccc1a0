"""The meter model catalogue (``catalogue.toml``), loaded and checked at import."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from pems.devices.records import MODEL_CODES


class CatalogueError(Exception):
    """catalogue.toml is malformed; the message names the entry and field."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What PEMS knows about one meter model."""

    code: str
    name: str
    manufacturer: str
    utility: str
    unit: str
    protocol: str
    phases: int
    meter_side: bool
    tou_registers: bool
    max_circuits: int
    max_single_phase_circuits: int
    max_three_phase_circuits: int
    max_phases: int

    @property
    def multi_circuit(self) -> bool:
        return self.max_circuits > 1


_CHOICES: dict[str, set[Any]] = {
    "utility": {"electricity", "water"},
    "unit": {"kWh", "m3"},
    "protocol": {"modbus", "dlt645"},
    "phases": {0, 1, 3},
}


def _entry(code: str, raw: dict[str, Any]) -> ModelInfo:
    values: dict[str, Any] = {"code": code}
    for spec in fields(ModelInfo)[1:]:
        value = raw.get(spec.name)
        kind = {"str": str, "int": int, "bool": bool}[str(spec.type)]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CatalogueError(
                f"catalogue.toml [models.{code}]: {spec.name} must be a {kind.__name__}"
            )
        if spec.name in _CHOICES and value not in _CHOICES[spec.name]:
            raise CatalogueError(
                f"catalogue.toml [models.{code}]: {spec.name} {value!r} is not one of "
                f"{sorted(map(str, _CHOICES[spec.name]))}"
            )
        values[spec.name] = value
    if unknown := set(raw) - set(values):
        raise CatalogueError(f"catalogue.toml [models.{code}]: unknown field(s) {sorted(unknown)}")
    return ModelInfo(**values)


def _load() -> MappingProxyType[str, ModelInfo]:
    text = resources.files(__package__).joinpath("catalogue.toml").read_text("utf-8")
    entries = {code: _entry(code, raw) for code, raw in tomllib.loads(text)["models"].items()}
    if set(entries) != set(MODEL_CODES):
        raise CatalogueError(
            f"catalogue.toml lists {sorted(entries)}, drivers know {sorted(MODEL_CODES)}"
        )
    return MappingProxyType(entries)


#: Every model, by code.
CATALOGUE: Final = _load()
