"""Per-row values looked up by id in an array parameter, instead of joined.

``(%(array)s::type[])[point_id - %(base)s]`` finds each row's value by index:
no join, so a whole-table scan stays parallel. The array spans the ids from
the smallest to the largest, so only ids that run close together (a site's
points) are worth it: :data:`ID_SPAN` bounds the length.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TypeVar

T = TypeVar("T")

#: The longest span of ids one array covers.
ID_SPAN = 1_000_000


def fits(ids: Collection[int]) -> bool:
    """Whether ``ids`` span few enough for arrays indexed by them."""
    return bool(ids) and max(ids) - min(ids) < ID_SPAN


def id_base(ids: Collection[int]) -> int:
    """The ``base`` of arrays over ``ids``: SQL reads element ``id - base`` (from 1)."""
    return min(ids) - 1


def by_id(values: Mapping[int, T], ids: Collection[int]) -> list[T | None]:
    """``values`` as an array over ``ids``' span (None where an id has none)."""
    base = id_base(ids)
    array: list[T | None] = [None] * (max(ids) - base)
    for key, value in values.items():
        array[key - base - 1] = value
    return array
