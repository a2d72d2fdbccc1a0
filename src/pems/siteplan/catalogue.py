"""The meter model catalogue, loaded from ``models.toml`` and checked at import."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from pems.siteplan.model import ModelCode


class CatalogueError(Exception):
    """models.toml is malformed; the message names the entry and field."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the sheet validator needs to know about one meter model."""

    code: ModelCode
    description: str
    family: str
    phases: int
    meter_side: bool
    unit: str
    circuits: bool


@dataclass(frozen=True, slots=True)
class CircuitLimits:
    """How many circuits one ADF300 box can carry."""

    max_single_phase: int
    max_three_phase: int
    max_phases: int


def _field(entry: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = entry.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CatalogueError(f"models.toml {where}: {name} must be a {kind.__name__}")
    return value


def _load() -> tuple[dict[ModelCode, ModelInfo], CircuitLimits]:
    raw = tomllib.loads(resources.files(__package__).joinpath("models.toml").read_text("utf-8"))
    entries: dict[str, Any] = raw.get("models", {})
    if set(entries) != {m.value for m in ModelCode}:
        raise CatalogueError(
            f"models.toml lists {sorted(entries)}, expected {sorted(m.value for m in ModelCode)}"
        )
    models: dict[ModelCode, ModelInfo] = {}
    for code, entry in entries.items():
        where = f"[models.{code}]"
        info = ModelInfo(
            code=ModelCode(code),
            description=_field(entry, "description", str, where),
            family=_field(entry, "family", str, where),
            phases=_field(entry, "phases", int, where),
            meter_side=_field(entry, "meter_side", bool, where),
            unit=_field(entry, "unit", str, where),
            circuits=_field(entry, "circuits", bool, where),
        )
        if info.family not in {"modbus", "dlt645"} or info.phases not in {0, 1, 3}:
            raise CatalogueError(f"models.toml {where}: unknown family or phases")
        if info.unit not in {"kWh", "m3"}:
            raise CatalogueError(f"models.toml {where}: unit must be kWh or m3")
        models[info.code] = info
    adf = raw.get("adf300", {})
    limits = CircuitLimits(
        max_single_phase=_field(adf, "max_single_phase", int, "[adf300]"),
        max_three_phase=_field(adf, "max_three_phase", int, "[adf300]"),
        max_phases=_field(adf, "max_phases", int, "[adf300]"),
    )
    return models, limits


MODELS, CIRCUIT_LIMITS = _load()


def model_info(code: ModelCode) -> ModelInfo:
    """Catalogue entry of a model."""
    return MODELS[code]
