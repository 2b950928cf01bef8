"""Maps: fitted transforms between spaces (compress now; align later). See :mod:`.base` for the
contract, :data:`REGISTRY` for the kinds."""

from repspace.maps.base import REGISTRY, Chain, Map, apply_map, load_map, map_class, register

__all__ = ["REGISTRY", "Chain", "Map", "apply_map", "load_map", "make_map", "map_class", "register"]


def make_map(kind: str, **params: object) -> Map:
    """A new, unfitted map of a registered kind."""
    return map_class(kind)(**params)
