"""The meter catalogue as the sheet validator sees it (from ``pems.devices.catalogue``)."""

from __future__ import annotations

from dataclasses import dataclass

from pems.devices.catalogue import CATALOGUE, ModelInfo
from pems.siteplan.model import ModelCode


@dataclass(frozen=True, slots=True)
class CircuitLimits:
    """How many circuits one multi-circuit box (ADF300) can carry."""

    max_single_phase: int
    max_three_phase: int
    max_phases: int


def model_info(code: ModelCode) -> ModelInfo:
    """Catalogue entry of a model."""
    return CATALOGUE[code.value]


_ADF300 = CATALOGUE[ModelCode.ADF300.value]
CIRCUIT_LIMITS = CircuitLimits(
    _ADF300.max_single_phase_circuits, _ADF300.max_three_phase_circuits, _ADF300.max_phases
)
