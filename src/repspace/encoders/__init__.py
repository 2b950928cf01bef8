"""Encoders, chosen by a spec string ``<kind>:<argument>`` and registered in one place.

=========== ============================================ ====================================
spec        what                                         example
=========== ============================================ ====================================
``st:``     a sentence-transformers model (name or dir)  ``st:all-MiniLM-L6-v2``
``static:`` a model2vec-format static model (dir)        ``static:models/potion``
``hash:``   hashed word and character n-grams, no model  ``hash:384``
=========== ============================================ ====================================
"""

from __future__ import annotations

import importlib
from typing import Any

from repspace.encoders.base import Encoder
from repspace.errors import RepspaceError

#: kind -> "module:Class"; imported on first use so that ``hash:`` never imports torch.
REGISTRY: dict[str, str] = {
    "st": "repspace.encoders.st:SentenceTransformerEncoder",
    "static": "repspace.encoders.static:StaticEncoder",
    "hash": "repspace.encoders.hashing:HashEncoder",
}


def register(kind: str, target: str) -> None:
    """Register an encoder class (``"package.module:Class"``) under a spec prefix."""
    REGISTRY[kind] = target


def parse_spec(spec: str) -> tuple[str, str]:
    kind, sep, arg = spec.partition(":")
    if not sep or not arg or kind not in REGISTRY:
        raise RepspaceError(
            f"encoder spec {spec!r} is not '<kind>:<argument>' with kind one of "
            f"{', '.join(sorted(REGISTRY))} (e.g. st:all-MiniLM-L6-v2, hash:384)"
        )
    return kind, arg


def load_encoder(spec: str | Encoder, **options: Any) -> Encoder:
    """Build the encoder a spec names; ``options`` (e.g. ``backend="onnx"``) go to its class."""
    if isinstance(spec, Encoder):
        return spec
    kind, arg = parse_spec(spec)
    module, _, name = REGISTRY[kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls.from_spec(arg, **{k: v for k, v in options.items() if v is not None})


def load_recorded_encoder(manifest: dict[str, Any], where: object, hint: str) -> Encoder:
    """The encoder a space's or index's manifest records, loaded with the backend options it was
    built with and checked against the manifest's fingerprint (``hint``: what to do when the
    vectors were imported without an encoder)."""
    recorded = manifest.get("encoder") or {}
    if not recorded.get("spec"):
        raise RepspaceError(f"{where}: holds vectors without an encoder spec (imported); {hint}")
    options = {k: v for k, v in (recorded.get("options") or {}).items() if k in LOAD_OPTIONS}
    encoder = load_encoder(recorded["spec"], **options)
    if encoder.fingerprint != manifest["fingerprint"]:
        raise RepspaceError(
            f"{where}: was built with {recorded['spec']} fingerprint "
            f"{manifest['fingerprint'][:12]}, but that spec now loads fingerprint "
            f"{encoder.fingerprint[:12]} (other weights); vectors of different models are never "
            "mixed: install the same model or rebuild it with this one"
        )
    return encoder


#: Recorded encoder options that select how to load it (the others only describe it).
LOAD_OPTIONS = ("backend", "quantize")

__all__ = [
    "REGISTRY",
    "Encoder",
    "load_encoder",
    "load_recorded_encoder",
    "parse_spec",
    "register",
]
