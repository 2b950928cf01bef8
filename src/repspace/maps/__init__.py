"""Maps: fitted transforms between spaces (compress, align). See :mod:`.base` for the contract,
:mod:`.registry` for the kinds and the method lists. Names load on first use (PEP 562), so the
method lists cost no numpy import."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from repspace.maps.base import AffineMap, Chain, Map, apply_map, load_map
    from repspace.maps.registry import (
        ALIGN_METHODS,
        COMPRESS_METHODS,
        FLOAT_METHODS,
        MIGRATE_METHODS,
        QUANTIZERS,
        REGISTRY,
        make_map,
        map_class,
        methods,
        register,
    )

_NAMES = {
    **dict.fromkeys(("AffineMap", "Chain", "Map", "apply_map", "load_map"), "base"),
    **dict.fromkeys(
        (
            "ALIGN_METHODS",
            "COMPRESS_METHODS",
            "FLOAT_METHODS",
            "MIGRATE_METHODS",
            "QUANTIZERS",
            "REGISTRY",
            "make_map",
            "map_class",
            "methods",
            "register",
        ),
        "registry",
    ),
}

__all__ = [
    "ALIGN_METHODS",
    "COMPRESS_METHODS",
    "FLOAT_METHODS",
    "MIGRATE_METHODS",
    "QUANTIZERS",
    "REGISTRY",
    "AffineMap",
    "Chain",
    "Map",
    "apply_map",
    "load_map",
    "make_map",
    "map_class",
    "methods",
    "register",
]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"repspace.maps.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'repspace.maps' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), *_NAMES]
