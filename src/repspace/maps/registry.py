"""The one registry of map kinds: kind -> class (imported on first use), and what each kind is
for. The method lists the API checks and the CLI offers are read from it.

Purposes: ``compress`` (float maps ``repspace compress`` fits, nested: every prefix is usable),
``quantize`` (quantizers, alone or after a float map), ``align`` (maps fitted on paired rows of
two spaces, ``repspace align``), ``migrate`` (aligners whose output lives in the target space, so
``repspace migrate`` can search the old space with mapped queries). A kind may also offer
presets: extra method names for fixed parameters (``pca-whiten`` is ``pca`` with
``whiten=True``).

This module imports nothing heavy, so the CLI can read the choices without numpy or torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from repspace.errors import RepspaceError

#: What each purpose's methods are called in error messages.
PURPOSES: dict[str, str] = {
    "compress": "compression method",
    "quantize": "quantizer",
    "align": "alignment method",
    "migrate": "migration method",
}


@dataclass(frozen=True)
class MapKind:
    """A registered kind: its class as ``"package.module:Class"``, its purposes and presets."""

    target: str
    purposes: tuple[str, ...] = ()
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


#: kind -> :class:`MapKind`; the classes are imported on first use (the adaptor needs torch).
REGISTRY: dict[str, MapKind] = {
    "chain": MapKind("repspace.maps.base:Chain"),
    "truncate": MapKind("repspace.maps.truncate:Truncate", ("compress",)),
    "pca": MapKind("repspace.maps.pca:PCA", ("compress",), {"pca-whiten": {"whiten": True}}),
    "matryoshka": MapKind("repspace.maps.matryoshka:MatryoshkaAdaptor", ("compress",)),
    "int8": MapKind("repspace.maps.quantize:Int8Quantizer", ("quantize",)),
    "binary": MapKind("repspace.maps.quantize:BinaryQuantizer", ("quantize",)),
    "procrustes": MapKind("repspace.maps.aligners:Procrustes", ("align", "migrate")),
    "linear": MapKind("repspace.maps.aligners:Linear", ("align", "migrate")),
    "affine": MapKind("repspace.maps.aligners:Affine", ("align", "migrate")),
    "cca": MapKind("repspace.maps.aligners:CCA", ("align", "migrate")),
    "low-rank": MapKind("repspace.maps.adapters:LowRankAffine", ("align", "migrate")),
    "residual-mlp": MapKind(
        "repspace.maps.adapters:ResidualMLP",
        ("align", "migrate"),
        {"residual-mlp-infonce": {"loss": "infonce"}},
    ),
    "relative": MapKind("repspace.maps.aligners:Relative", ("align",)),
}


def register(
    kind: str,
    target: str,
    purposes: tuple[str, ...] = (),
    presets: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Register a Map class (``"package.module:Class"``) under ``kind``, for ``purposes``."""
    unknown = set(purposes) - set(PURPOSES)
    if unknown:
        raise RepspaceError(
            f"unknown map purpose(s) {', '.join(sorted(unknown))}; use {', '.join(PURPOSES)}"
        )
    REGISTRY[kind] = MapKind(target, tuple(purposes), dict(presets or {}))


def methods(purpose: str) -> tuple[str, ...]:
    """Method names for ``purpose``, in registry order: each kind, then its presets."""
    if purpose not in PURPOSES:
        raise RepspaceError(f"unknown map purpose {purpose!r}; use {', '.join(PURPOSES)}")
    return tuple(
        name
        for kind, entry in REGISTRY.items()
        if purpose in entry.purposes
        for name in (kind, *entry.presets)
    )


def _resolve(name: str, purpose: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(kind, preset parameters)`` of a kind or preset name, checked against ``purpose``."""
    if purpose is not None and name not in methods(purpose):
        raise RepspaceError(
            f"unknown {PURPOSES[purpose]} {name!r}; choose one of {', '.join(methods(purpose))}"
        )
    if name in REGISTRY:
        return name, {}
    for kind, entry in REGISTRY.items():
        if name in entry.presets:
            return kind, dict(entry.presets[name])
    raise RepspaceError(f"unknown map kind {name!r}; known: {', '.join(sorted(REGISTRY))}")


# The classes are typed Any: this module may not import maps.base, which imports it.
def map_class(kind: str, purpose: str | None = None) -> type[Any]:
    """The :class:`~repspace.maps.base.Map` subclass registered under ``kind`` (with
    ``purpose``: only a kind for that purpose)."""
    kind, _ = _resolve(kind, purpose)
    module, _, name = REGISTRY[kind].target.partition(":")
    return getattr(importlib.import_module(module), name)


def make_map(name: str, purpose: str | None = None, **params: Any) -> Any:
    """A new, unfitted :class:`~repspace.maps.base.Map` of a registered kind or preset
    (``pca-whiten``), with ``params``."""
    kind, preset = _resolve(name, purpose)
    return map_class(kind)(**{**preset, **params})


#: Float compression methods (``repspace compress --method``, before an optional ``+QUANTIZER``).
FLOAT_METHODS = methods("compress")
#: Quantizers: alone (after truncation) or after a float method.
QUANTIZERS = methods("quantize")
#: Every method string ``repspace compress`` accepts.
COMPRESS_METHODS = (
    *FLOAT_METHODS,
    *QUANTIZERS,
    *(f"{f}+{q}" for f in FLOAT_METHODS for q in QUANTIZERS),
)
#: ``repspace align --method``.
ALIGN_METHODS = methods("align")
#: ``repspace migrate --method``.
MIGRATE_METHODS = methods("migrate")
#: ``repspace migrate --method`` values beyond the map kinds, with ``--bridge``: the bridge as it
#: is, or refined on the user's sample.
BRIDGE_METHODS = ("bridge", "bridge+refined")
