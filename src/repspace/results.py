"""Typed results of the commands: each command's API returns a dataclass defined next to it
(``InspectResult``, ``EvaluateResult``, ...), and its :meth:`Result.to_dict` is the plain dict the
command prints with ``--json`` and writes to its files (same keys, same order).

Field metadata says how a field appears in that dict: ``field(default=None, metadata=OPTIONAL)``
for a key the dict holds only sometimes (left out while None), ``metadata=INTERNAL`` for a value
for Python callers only (e.g. a fitted map; never in the dict), ``metadata=renamed("self_r@1")``
for a key that is no identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

#: Field metadata: left out of :meth:`Result.to_dict` while None.
OPTIONAL: Mapping[str, Any] = MappingProxyType({"optional": True})
#: Field metadata: never in :meth:`Result.to_dict`.
INTERNAL: Mapping[str, Any] = MappingProxyType({"internal": True})


def renamed(name: str, *, optional: bool = False) -> Mapping[str, Any]:
    """Field metadata: the field is ``name`` in :meth:`Result.to_dict` (optional: see
    :data:`OPTIONAL`)."""
    return MappingProxyType({"key": name, "optional": optional})


@dataclass
class Result:
    """Base of the commands' results."""

    def to_dict(self) -> dict[str, Any]:
        """The fields in order, as the command's JSON: optional fields that are None and
        internal fields left out; nested values as they are (not copied)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("internal") or (value is None and f.metadata.get("optional")):
                continue
            out[f.metadata.get("key", f.name)] = value
        return out


def as_dict(result: Result | Mapping[str, Any]) -> dict[str, Any]:
    """``result.to_dict()`` for a result, a plain dict for a mapping (e.g. read back from JSON):
    for the functions that write a result's report or card and accept either."""
    return result.to_dict() if isinstance(result, Result) else dict(result)


__all__ = ["INTERNAL", "OPTIONAL", "Result", "as_dict", "renamed"]
