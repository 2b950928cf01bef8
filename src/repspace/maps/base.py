"""The Map contract: a fitted transform between spaces, in scikit-learn's estimator style.

- Parameters are set in ``__init__`` and stored unchanged under their own names; the
  constructor does no work (``get_params()`` reads them back from the signature).
- ``fit(X)`` learns from an ``(n, dim)`` array or a :class:`~repspace.space.Space` and returns
  ``self``; learned state lives in attributes with a trailing underscore (``components_``), and
  the fingerprint of the space it was fitted on in ``source_fingerprint_`` (None for arrays).
- ``transform(X)`` maps vectors; ``fit_transform`` does both; quantizers also decode
  (``inverse_transform``) so that their output can be scored and written as a space.
- ``save(dir)`` writes ``map.json`` (kind, parameters, scalar state) and ``map.safetensors``
  (array state); :func:`load_map` / ``Map.load(dir)`` read any registered kind back. No pickle.
- ``apply(space, out)`` writes a new space whose manifest lists the map in ``transforms`` and
  whose fingerprint derives from the source's and the map's; a space of another fingerprint
  than the one the map was fitted on is refused unless ``force=True``.

Maps compose with :class:`Chain`. New kinds register in :data:`REGISTRY`.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from repspace.errors import RepspaceError
from repspace.fsio import atomic_path, atomic_write_json, read_format_json

FORMAT = "repspace.map"
FORMAT_VERSION = 1
CONFIG = "map.json"
WEIGHTS = "map.safetensors"

#: kind -> "module:Class"; imported on first use (the adaptor needs torch, the rest does not).
REGISTRY: dict[str, str] = {
    "chain": "repspace.maps.base:Chain",
    "truncate": "repspace.maps.truncate:Truncate",
    "pca": "repspace.maps.pca:PCA",
    "matryoshka": "repspace.maps.matryoshka:MatryoshkaAdaptor",
    "int8": "repspace.maps.quantize:Int8Quantizer",
    "binary": "repspace.maps.quantize:BinaryQuantizer",
    "procrustes": "repspace.maps.aligners:Procrustes",
    "linear": "repspace.maps.aligners:Linear",
    "affine": "repspace.maps.aligners:Affine",
    "cca": "repspace.maps.aligners:CCA",
    "relative": "repspace.maps.aligners:Relative",
}


def register(kind: str, target: str) -> None:
    """Register a Map class (``"package.module:Class"``) under ``kind``."""
    REGISTRY[kind] = target


def map_class(kind: str) -> type[Map]:
    if kind not in REGISTRY:
        raise RepspaceError(f"unknown map kind {kind!r}; known: {', '.join(sorted(REGISTRY))}")
    module, _, name = REGISTRY[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def as_matrix(X: Any, name: str = "vectors") -> tuple[np.ndarray, str | None]:
    """``(vectors, fingerprint)`` of a Space (fingerprint set) or a 2-D array (None)."""
    from repspace.space import Space

    if isinstance(X, str | Path):
        X = Space.open(X)
    if isinstance(X, Space):
        return np.asarray(X.vectors), X.fingerprint
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise RepspaceError(f"{name}: expected a 2-D array (n, dim), got shape {arr.shape}")
    return arr, None


def check_finite(X: np.ndarray, name: str = "training vectors") -> None:
    """Refuse NaN/inf: a map fitted on them would be silently wrong."""
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise RepspaceError(
            f"{name}: row {row} contains NaN or infinity; drop or re-encode it before fitting"
        )


class Map(ABC):
    """A fitted transform ``R^input_dim -> R^output_dim`` (or to codes, for quantizers)."""

    #: Registry name, written to ``map.json``.
    kind: ClassVar[str]
    #: True for quantizers: ``transform`` returns codes, ``inverse_transform`` decodes them.
    quantizer: ClassVar[bool] = False

    # ------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, read back from attributes of the same name."""
        sig = inspect.signature(type(self).__init__)
        return {
            p: getattr(self, p)
            for p in sig.parameters
            if p != "self" and sig.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # ------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Self:
        """Learn from a Space or an ``(n, dim)`` array; returns ``self``."""
        vectors, fingerprint = as_matrix(X)
        if len(vectors) == 0:
            raise RepspaceError("cannot fit a map on zero vectors")
        check_finite(vectors)
        self.input_dim_ = int(vectors.shape[1])
        self.source_fingerprint_ = fingerprint
        self._fit(vectors, **fit_params)
        self.output_dim_ = int(self._output_dim())
        return self

    @abstractmethod
    def _fit(self, X: np.ndarray, **fit_params: Any) -> None:
        """Learn the state from validated vectors (``input_dim_`` is already set)."""

    @abstractmethod
    def _output_dim(self) -> int: ...

    @abstractmethod
    def _transform(self, X: np.ndarray) -> np.ndarray: ...

    def transform(self, X: Any) -> np.ndarray:
        """Map an ``(n, input_dim)`` array (or a Space's vectors)."""
        self._check_fitted()
        vectors, _ = as_matrix(X)
        if vectors.shape[1] != self.input_dim_:
            raise RepspaceError(
                f"{self.kind} map expects {self.input_dim_}-dim vectors, got {vectors.shape[1]}; "
                "apply it to vectors of the space it was fitted on"
            )
        return self._transform(vectors)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        return self.fit(X, y, **fit_params).transform(X)

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        """Decode a quantizer's codes to float32 vectors (identity for float maps)."""
        return np.asarray(codes, dtype=np.float32)

    def decode_transform(self, X: Any) -> np.ndarray:
        """Float32 vectors in the output geometry: ``transform``, decoded for quantizers."""
        out = self.transform(X)
        return self.inverse_transform(out) if self.quantizer else out

    @property
    def fitted(self) -> bool:
        return hasattr(self, "input_dim_")

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RepspaceError(f"this {self.kind} map is not fitted yet; call fit() first")

    @property
    def bytes_per_vector(self) -> float:
        """Storage of one output vector (float32 unless a quantizer says otherwise)."""
        self._check_fitted()
        return 4.0 * self.output_dim_

    # ------------------------------------------------------------ state
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Learned state: arrays (to safetensors) and JSON scalars, by attribute name."""
        arrays, scalars = {}, {}
        for name, value in vars(self).items():
            if not name.endswith("_") or name.startswith("_"):
                continue
            if isinstance(value, np.ndarray):
                arrays[name] = value
            else:
                scalars[name] = value
        return arrays, scalars

    @property
    def fingerprint(self) -> str:
        """sha256 over kind, parameters and learned state."""
        self._check_fitted()
        arrays, scalars = self._state()
        h = hashlib.sha256()
        config = {"kind": self.kind, "params": self.get_params(), "state": scalars}
        h.update(json.dumps(config, sort_keys=True, default=str).encode())
        for name in sorted(arrays):
            a = np.ascontiguousarray(arrays[name])
            h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
            h.update(hashlib.sha256(a.tobytes()).digest())
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """What a space's manifest records about a map in its ``transforms`` list."""
        self._check_fitted()
        return {
            "kind": self.kind,
            "params": self.get_params(),
            "input_dim": self.input_dim_,
            "output_dim": self.output_dim_,
            "fingerprint": self.fingerprint,
            "source_fingerprint": self.source_fingerprint_,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``map.json`` + ``map.safetensors`` into directory ``path`` (atomically each)."""
        from safetensors.numpy import save_file

        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays, scalars = self._state()
        with atomic_path(path / WEIGHTS) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
        atomic_write_json(
            path / CONFIG,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
                "params": self.get_params(),
                "state": scalars,
                "fingerprint": self.fingerprint,
            },
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Map:
        """Read a saved map of any registered kind."""
        return load_map(path)

    @classmethod
    def _from_saved(cls, path: Path, config: dict[str, Any]) -> Map:
        from safetensors.numpy import load_file

        params = config["params"]
        if isinstance(params.get("dims"), list):
            params["dims"] = tuple(params["dims"])
        obj = cls(**params)
        for name, value in config["state"].items():
            setattr(obj, name, value)
        for name, value in load_file(str(path / WEIGHTS)).items():
            setattr(obj, name, value)
        return obj

    # ------------------------------------------------------------ spaces
    def check_space(self, fingerprint: str, where: str, force: bool = False) -> None:
        """Refuse vectors of another model than the one this map was fitted on."""
        self._check_fitted()
        src = self.source_fingerprint_
        if src is not None and src != fingerprint and not force:
            raise RepspaceError(
                f"{where}: fingerprint {fingerprint[:12]} differs from the space this map was "
                f"fitted on ({src[:12]}); use a space of that model, or pass --force"
            )

    def apply(
        self, space: Any, out: str | Path, *, force: bool = False, overwrite: bool = False
    ) -> Any:
        """Write ``space`` mapped through this map as a new space at ``out``; see
        :func:`apply_map`."""
        return apply_map(self, space, out, force=force, overwrite=overwrite)

    # ------------------------------------------------------------ export
    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """The map as ``(weight (out, in), bias (out,), activation)`` layers, ``activation`` in
        {"identity", "relu"}: how it is exported to a sentence-transformers model."""
        raise RepspaceError(
            f"a {self.kind} map cannot be exported as dense layers (quantizers have no float "
            "output to export; export the float part of the chain)"
        )


def load_map(path: str | Path) -> Map:
    """Read a map saved with :meth:`Map.save` (any registered kind, chains included)."""
    path = Path(path)
    file = path / CONFIG
    if not file.is_file():
        raise RepspaceError(
            f"{path}: not a repspace map (no {CONFIG}); give a directory a map "
            "was saved to (repspace compress --out)"
        )
    config = read_format_json(file, FORMAT, FORMAT_VERSION, "map config")
    obj = map_class(config["kind"])._from_saved(path, config)
    if obj.fingerprint != config.get("fingerprint"):
        raise RepspaceError(
            f"{path}: map files do not match the fingerprint in {CONFIG} (changed after saving); "
            "fit and save the map again"
        )
    return obj


def apply_map(
    m: Map, space: Any, out: str | Path, *, force: bool = False, overwrite: bool = False
) -> Any:
    """Write ``space`` (a Space or its directory) mapped through ``m`` as a new space.

    The new manifest keeps the source's encoder and corpus, appends ``m.describe()`` (plus the
    source fingerprint) to ``transforms``, and gets the fingerprint
    ``sha256(source fingerprint + map fingerprint)``, so spaces mapped alike mix and nothing
    else does. Quantizers write their decoded vectors (float32 in the quantized geometry).
    """
    import pyarrow.parquet as pq

    from repspace.progress import progress_bar
    from repspace.space import Space, SpaceWriter

    if not isinstance(space, Space):
        space = Space.open(space)
    m.check_space(space.fingerprint, str(space.path), force)
    if space.dim != m.input_dim_:
        raise RepspaceError(
            f"{space.path}: {space.dim}-dim vectors, the map expects {m.input_dim_}"
        )
    entry = {**m.describe(), "applied_to": space.fingerprint}
    fingerprint = hashlib.sha256(f"{space.fingerprint}|map:{m.fingerprint}".encode()).hexdigest()
    extra = [c for c in space.columns if c != "id"]
    writer = SpaceWriter.create(
        out,
        dim=m.output_dim_,
        fingerprint=fingerprint,
        encoder=space.manifest.get("encoder"),
        columns=space.columns,
        params={**space.manifest.get("params", {})},
        corpus=space.manifest.get("corpus"),
        source={"kind": "map", "space": str(space.path), "fingerprint": space.fingerprint},
        overwrite=overwrite,
    )
    with progress_bar(f"applying {m.kind}", space.n, "vec") as bar:
        for i, shard in enumerate(space.manifest["shards"]):
            table = pq.read_table(space.path / shard["table"])
            ids = table.column("id").to_pylist()
            cols = {c: table.column(c).to_pylist() for c in extra}
            writer.add_shard(ids, m.decode_transform(np.asarray(space.shard_vectors(i))), cols)
            bar.advance(len(ids))
    writer.manifest["transforms"] = [*space.manifest.get("transforms", []), entry]
    return writer.finish()


class Chain(Map):
    """Maps applied in order (``steps[0]`` first), like scikit-learn's ``Pipeline``.

    ``fit`` fits each step on the previous step's (decoded) output.
    """

    kind = "chain"

    def __init__(self, steps: Sequence[Map] = ()):
        self.steps = steps

    @property
    def quantizer(self) -> bool:  # type: ignore[override]
        return bool(self.steps) and self.steps[-1].quantizer

    def get_params(self) -> dict[str, Any]:
        return {"steps": [s.kind for s in self.steps]}

    def _fit(self, X: np.ndarray, **fit_params: Any) -> None:
        if not self.steps:
            raise RepspaceError("a chain needs at least one map")
        for i, step in enumerate(self.steps):
            if step.quantizer and i != len(self.steps) - 1:
                raise RepspaceError("a quantizer can only be the last map of a chain")
            # Fit parameters (e.g. pairs for a supervised adaptor) go to the step that takes them.
            accepted = set(inspect.signature(step._fit).parameters)
            step.fit(X, **{k: v for k, v in fit_params.items() if k in accepted})
            if i < len(self.steps) - 1:
                X = step.transform(X)

    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> Self:
        super().fit(X, y, **fit_params)
        # Every step records the source the chain was fitted on.
        for step in self.steps:
            step.source_fingerprint_ = self.source_fingerprint_
        return self

    def _output_dim(self) -> int:
        return self.steps[-1].output_dim_

    def _transform(self, X: np.ndarray) -> np.ndarray:
        for step in self.steps:
            X = step.transform(X)
        return X

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        return self.steps[-1].inverse_transform(codes)

    @property
    def bytes_per_vector(self) -> float:
        return self.steps[-1].bytes_per_vector

    @property
    def fingerprint(self) -> str:
        self._check_fitted()
        h = hashlib.sha256(b"chain")
        for step in self.steps:
            h.update(step.fingerprint.encode())
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "steps": [s.describe() for s in self.steps]}

    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        names = []
        for i, step in enumerate(self.steps):
            name = f"{i:02d}-{step.kind}"
            step.save(path / name)
            names.append(name)
        atomic_write_json(
            path / CONFIG,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
                "params": self.get_params(),
                "steps": names,
                "state": {
                    "input_dim_": self.input_dim_,
                    "output_dim_": self.output_dim_,
                    "source_fingerprint_": self.source_fingerprint_,
                },
                "fingerprint": self.fingerprint,
            },
        )
        return path

    @classmethod
    def _from_saved(cls, path: Path, config: dict[str, Any]) -> Map:
        obj = cls([load_map(path / name) for name in config["steps"]])
        for name, value in config["state"].items():
            setattr(obj, name, value)
        return obj

    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        return [layer for step in self.steps for layer in step.affine_layers()]
