"""The Map contract: a fitted transform between spaces, scikit-learn's estimator contract.

- Parameters are set in ``__init__`` and stored unchanged under their own names; the
  constructor does no work. ``get_params(deep=True)`` reads them back from the signature
  (nested maps' as ``step__param``), ``set_params(**params)`` validates the names, sets them
  and returns ``self``.
- ``fit(X, y=None)`` learns from an ``(n, dim)`` array or a :class:`~repspace.space.Space` and
  returns ``self``; ``y`` is ignored except by maps between two spaces (``requires_y``: the
  aligners), where it is the paired target rows. Subclasses implement one hook,
  ``_fit(X, y=None)``, on validated arrays. Learned state lives in attributes with a trailing
  underscore (``components_``), set only by ``fit`` (a refit starts afresh); the fingerprint of
  the space ``X`` came from is ``source_fingerprint_`` (None for arrays unless given).
- ``transform(X)`` maps vectors; ``fit_transform`` does both; quantizers also decode
  (``inverse_transform``) so that their output can be scored and written as a space.
- Nested maps (truncate, PCA, the Matryoshka adaptor, chains ending in one) give
  ``prefix(dim)``: a new fitted map of their first ``dim`` outputs.
- ``save(dir)`` writes ``map.json`` (kind, parameters, scalar state) and ``map.safetensors``
  (array state), a chain its steps in subdirectories through the same writer;
  :func:`load_map` / ``Map.load(dir)`` read any registered kind back. No pickle.
- ``apply(space, out)`` writes a new space whose manifest lists the map in ``transforms`` and
  whose fingerprint derives from the source's and the map's; a space of another fingerprint
  than the one the map was fitted on is refused unless ``force=True``.

Maps compose with :class:`Chain`. Kinds are registered in :mod:`repspace.maps.registry`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from repspace.errors import RepspaceError, one_line
from repspace.fsio import atomic_path, plain_name, read_format_json, write_format_json, writes
from repspace.maps.registry import REGISTRY, map_class, register

__all__ = [
    "REGISTRY",
    "AffineMap",
    "Chain",
    "Map",
    "apply_map",
    "as_matrix",
    "check_finite",
    "load_map",
    "map_class",
    "register",
]

FORMAT = "repspace.map"
FORMAT_VERSION = 1
CONFIG = "map.json"
WEIGHTS = "map.safetensors"


@contextmanager
def torch_fitting(threads: int, seed: int) -> Iterator[Any]:
    """A seeded, deterministic torch session on ``threads`` intra-op threads (restored after),
    for maps trained with torch on CPU; yields a seeded ``torch.Generator``."""
    import torch

    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(1, int(threads)))
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


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
    #: True for maps between two spaces: ``fit(X, y)`` needs ``y``, the paired target rows.
    requires_y: ClassVar[bool] = False

    # ------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p
            for p, v in sig.parameters.items()
            if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, read back from attributes of the same name; with
        ``deep``, also those of parameters that are maps, as ``name__param``."""
        params = {p: getattr(self, p) for p in self._param_names()}
        if deep:
            for name, value in list(params.items()):
                if isinstance(value, Map):
                    params.update({f"{name}__{k}": v for k, v in value.get_params().items()})
        return params

    def set_params(self, **params: Any) -> Self:
        """Set parameters (``name__param`` for a nested map's); returns ``self``. Learned state
        is left as it is: refit to use the new values."""
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, sub, rest = key.partition("__")
            if name not in valid or (sub and not isinstance(valid[name], Map)):
                names = sorted(k for k in valid if "__" not in k)
                raise RepspaceError(
                    f"invalid parameter {key!r} for {type(self).__name__}; valid parameters: "
                    f"{', '.join(names)} (and NAME__PARAM for a nested map's)"
                )
            if sub:
                nested.setdefault(name, {})[rest] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def _config_params(self) -> dict[str, Any]:
        """The parameters as JSON values (what ``map.json`` and manifests record)."""
        return {k: _plain(v) for k, v in self.get_params(deep=False).items()}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({params})"

    # ------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        source_fingerprint: str | None = None,
        target_fingerprint: str | None = None,
        **fit_params: Any,
    ) -> Self:
        """Learn from a Space or an ``(n, dim)`` array; returns ``self``.

        ``y``: ignored, except by maps between two spaces (``requires_y``), where it is the
        target rows paired with ``X``'s (a Space or an array). ``source_fingerprint`` /
        ``target_fingerprint``: the fingerprints of the spaces the rows of ``X`` / ``y`` come
        from (default: a Space's own, None for an array). ``fit_params`` go to ``_fit``."""
        vectors, fingerprint = as_matrix(X)
        if len(vectors) == 0:
            raise RepspaceError("cannot fit a map on zero vectors")
        check_finite(vectors)
        if self.requires_y:
            y, y_fingerprint = self._check_target(vectors, y)
        for name in self._learned():
            delattr(self, name)  # a refit starts afresh
        self.input_dim_ = int(vectors.shape[1])
        self.source_fingerprint_ = source_fingerprint or fingerprint
        if self.requires_y:
            self.target_dim_ = int(y.shape[1])
            self.target_fingerprint_ = target_fingerprint or y_fingerprint
        self._fit(vectors, y, **fit_params)
        self.output_dim_ = int(self._output_dim())
        return self

    def _check_target(self, X: np.ndarray, y: Any) -> tuple[np.ndarray, str | None]:
        """``(target vectors, fingerprint)`` of ``y``, checked against the source rows ``X``."""
        if y is None:
            raise RepspaceError(f"{self.kind} map: fit(X, y) needs the target vectors y")
        target, fingerprint = as_matrix(y, "target vectors")
        if len(target) != len(X):
            raise RepspaceError(
                f"{self.kind} map: {len(X)} source rows for {len(target)} target rows; "
                "pass the same ids in the same order"
            )
        check_finite(target, "target vectors")
        return target, fingerprint

    @abstractmethod
    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        """Learn the state from validated vectors (``input_dim_`` is already set; ``y`` is the
        validated target for ``requires_y`` maps, else whatever was passed); subclasses may
        take extra keyword fit parameters."""

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
        return hasattr(self, "output_dim_")  # set last: a fit that failed leaves none

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RepspaceError(f"this {self.kind} map is not fitted yet; call fit() first")

    @property
    def bytes_per_vector(self) -> float:
        """Storage of one output vector (float32 unless a quantizer says otherwise)."""
        self._check_fitted()
        return 4.0 * self.output_dim_

    def prefix(self, dim: int) -> Self:
        """A new fitted map giving this map's first ``dim`` outputs (nested maps only)."""
        raise RepspaceError(
            f"a {self.kind} map is not nested: its first {dim} outputs are not a map of their "
            f"own; fit one with {dim} output dimensions"
        )

    def _derive(self, params: dict[str, Any], state: dict[str, Any]) -> Self:
        """A fitted copy with some parameters and learned state replaced (for ``prefix``)."""
        self._check_fitted()
        new = type(self)(**{**self.get_params(deep=False), **params})
        for name, value in {**self._learned(), **state}.items():
            setattr(new, name, value)
        return new

    # ------------------------------------------------------------ state
    def _learned(self) -> dict[str, Any]:
        """Learned state by attribute name (a trailing underscore, no leading one)."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Learned state: arrays (to safetensors) and JSON scalars, by attribute name."""
        arrays, scalars = {}, {}
        for name, value in self._learned().items():
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
        config = {"kind": self.kind, "params": self._config_params(), "state": scalars}
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
            "params": self._config_params(),
            "input_dim": self.input_dim_,
            "output_dim": self.output_dim_,
            "fingerprint": self.fingerprint,
            "source_fingerprint": self.source_fingerprint_,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``map.json`` + ``map.safetensors`` into directory ``path``, each atomically
        (nested parts first: a chain's steps, in subdirectories, through this same writer)."""
        from safetensors.numpy import save_file

        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob(".map.*.tmp"):  # what a killed save left (see fsio.atomic_path)
            stale.unlink(missing_ok=True)
        parts = self._save_parts(path)
        arrays, scalars = self._state()
        with atomic_path(path / WEIGHTS) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp))
        write_format_json(
            path / CONFIG,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
                "params": self._config_params(),
                **parts,
                "state": scalars,
                "fingerprint": self.fingerprint,
            },
        )
        return path

    def _save_parts(self, path: Path) -> dict[str, Any]:
        """Save nested maps under ``path``; returns the entries ``map.json`` records for them."""
        return {}

    @classmethod
    def load(cls, path: str | Path) -> Map:
        """Read a saved map of any registered kind."""
        return load_map(path)

    @classmethod
    def _from_saved(cls, path: Path, config: dict[str, Any]) -> Map:
        """The map saved in ``path`` (``config``: its ``map.json``), as :meth:`save` wrote it."""
        from safetensors.numpy import load_file

        obj = cls(**cls._saved_params(path, config))
        state = dict(config["state"])
        if (path / WEIGHTS).is_file():  # chains saved before they had one have none
            state.update(load_file(str(path / WEIGHTS)))
        for name, value in state.items():
            if not isinstance(getattr(cls, name, None), property):  # derived, not stored
                setattr(obj, name, value)
        return obj

    @classmethod
    def _saved_params(cls, path: Path, config: dict[str, Any]) -> dict[str, Any]:
        """Constructor parameters from ``map.json`` (JSON lists back to tuples)."""
        return {k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()}

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
        self,
        space: Any,
        out: str | Path,
        *,
        force: bool = False,
        wait: bool = False,
        overwrite: bool = False,
        verify: bool = True,
    ) -> Any:
        """Write ``space`` mapped through this map as a new space at ``out``; see
        :func:`apply_map`."""
        return apply_map(
            self, space, out, force=force, wait=wait, overwrite=overwrite, verify=verify
        )

    # ------------------------------------------------------------ export
    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """The map as ``(weight (out, in), bias (out,), activation)`` layers, ``activation`` in
        {"identity", "relu"}: how it is exported to a sentence-transformers model."""
        raise RepspaceError(
            f"a {self.kind} map cannot be exported as dense layers (quantizers have no float "
            "output to export; export the float part of the chain)"
        )


class AffineMap(Map):
    """A map ``x -> x @ weight_ + bias_`` (``weight_``: ``(input_dim, output_dim)``,
    ``bias_``: ``(output_dim,)``, float32), exported as one dense layer. Subclasses learn
    ``weight_`` and ``bias_`` in ``_fit``."""

    def _output_dim(self) -> int:
        return int(self.weight_.shape[1])

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32) @ self.weight_ + self.bias_

    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        self._check_fitted()
        return [(self.weight_.T.copy(), self.bias_, "identity")]


def _plain(value: Any) -> Any:
    """A parameter value as JSON: tuples to lists, numpy scalars to Python numbers."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def load_map(path: str | Path) -> Map:
    """Read a map saved with :meth:`Map.save` (any registered kind, chains included)."""
    path = Path(path)
    file = path / CONFIG
    if not file.is_file():
        raise RepspaceError(
            f"{path}: not a repspace map (no {CONFIG}); give a directory a map "
            "was saved to (repspace compress --out)"
        )
    hint = "; fit and save the map again"
    config = read_format_json(file, FORMAT, FORMAT_VERSION, "map config", hint, _FIELDS)
    for name in config["state"]:  # learned attributes only, as Map.save writes them
        if not (name.isidentifier() and name.endswith("_") and not name.startswith("_")):
            raise RepspaceError(f"{file}: damaged map config: state {name!r}{hint}")
    for step in config.get("steps", []):  # subdirectories, never this one or another's
        if not plain_name(step):
            raise RepspaceError(f"{file}: damaged map config: step {step!r}{hint}")
    from safetensors import SafetensorError

    try:
        obj = map_class(config["kind"])._from_saved(path, config)
    except (TypeError, KeyError, SafetensorError) as e:  # another kind's fields, damaged weights
        what = f"no field {e}" if isinstance(e, KeyError) else one_line(e)
        raise RepspaceError(f"{path}: unreadable map ({what}){hint}") from None
    if obj.fingerprint != config.get("fingerprint"):
        raise RepspaceError(
            f"{path}: map files do not match the fingerprint in {CONFIG} (changed after saving); "
            "fit and save the map again"
        )
    return obj


#: The JSON kind of every field of ``map.json`` (see :func:`~repspace.fsio.read_format_json`).
_FIELDS = {"kind": "string", "params": "object", "state": "object", "fingerprint": "string",
           "steps": "array|missing"}  # fmt: skip


@writes("out")
def apply_map(
    m: Map,
    space: Any,
    out: str | Path,
    *,
    force: bool = False,
    wait: bool = False,
    overwrite: bool = False,
    verify: bool = True,
) -> Any:
    """Write ``space`` (a Space or its directory; its shards checksum-verified first unless
    ``verify`` is False) mapped through ``m`` as a new space.

    The new manifest keeps the source's encoder and corpus, appends ``m.describe()`` (plus the
    source fingerprint) to ``transforms``, and gets the fingerprint
    ``sha256(source fingerprint + map fingerprint)``, so spaces mapped alike mix and nothing
    else does. Quantizers write their decoded vectors (float32 in the quantized geometry).
    """
    from repspace.progress import progress_bar
    from repspace.space import SpaceWriter, open_space

    space = open_space(space, verify=verify)
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
    with writer, progress_bar(f"applying {m.kind}", space.n, "vec") as bar:
        for i in range(len(space.manifest["shards"])):
            table = space.shard_table(i)
            ids = table.column("id").to_pylist()
            cols = {c: table.column(c).to_pylist() for c in extra}
            writer.add_shard(ids, m.decode_transform(np.asarray(space.shard_vectors(i))), cols)
            bar.advance(len(ids))
        writer.manifest["transforms"] = [*space.manifest.get("transforms", []), entry]
        return writer.finish()


class Chain(Map):
    """Maps applied in order (``steps[0]`` first), like scikit-learn's ``Pipeline``.

    ``fit`` fits each step on the previous step's (decoded) output. The chain's own state is its
    steps' (``input_dim_`` of the first, ``output_dim_`` of the last): a chain of fitted maps is
    fitted. Steps are named by kind (``pca``; ``pca-1``, ``pca-2`` when repeated, as
    ``make_pipeline``) for ``get_params``/``set_params`` (``pca__dim``).
    """

    kind = "chain"

    def __init__(self, steps: Sequence[Map] = ()):
        self.steps = steps

    @property
    def quantizer(self) -> bool:  # type: ignore[override]
        return bool(self.steps) and self.steps[-1].quantizer

    @property
    def named_steps(self) -> dict[str, Map]:
        kinds = [s.kind for s in self.steps]
        count: dict[str, int] = {}
        names = []
        for kind in kinds:
            count[kind] = count.get(kind, 0) + 1
            names.append(f"{kind}-{count[kind]}" if kinds.count(kind) > 1 else kind)
        return dict(zip(names, self.steps, strict=True))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {"steps": self.steps}
        if deep:
            for name, step in self.named_steps.items():
                params[name] = step
                params.update({f"{name}__{k}": v for k, v in step.get_params().items()})
        return params

    def set_params(self, **params: Any) -> Self:
        """As ``Pipeline.set_params``: ``steps``, a step by name, or ``name__param``; names are
        those before any step is replaced (a replacement may rename steps)."""
        if "steps" in params:
            self.steps = params.pop("steps")
        names = list(self.named_steps)
        replace = {k: params.pop(k) for k in list(params) if k in names}
        super().set_params(**params)
        if replace:
            self.steps = [replace.get(n, s) for n, s in zip(names, self.steps, strict=True)]
        return self

    def _config_params(self) -> dict[str, Any]:
        return {"steps": [s.kind for s in self.steps]}

    # ------------------------------------------------------------ state (the steps')
    @property
    def fitted(self) -> bool:
        return bool(self.steps) and all(s.fitted for s in self.steps)

    @property
    def input_dim_(self) -> int:
        return self.steps[0].input_dim_

    @property
    def output_dim_(self) -> int:
        return self.steps[-1].output_dim_

    @property
    def source_fingerprint_(self) -> str | None:
        return self.steps[0].source_fingerprint_

    # ------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        source_fingerprint: str | None = None,
        target_fingerprint: str | None = None,
        **fit_params: Any,
    ) -> Self:
        """Fit each step on the previous one's output; every step records the fingerprint of
        the space ``X`` came from. Fit parameters go to the steps whose ``_fit`` takes them."""
        if not self.steps:
            raise RepspaceError("a chain needs at least one map")
        if any(step.quantizer for step in self.steps[:-1]):
            raise RepspaceError("a quantizer can only be the last map of a chain")
        vectors, fingerprint = as_matrix(X)
        self._fit(
            vectors,
            y,
            source_fingerprint=source_fingerprint or fingerprint,
            target_fingerprint=target_fingerprint,
            **fit_params,
        )
        return self

    def _fit(self, X: np.ndarray, y: Any = None, **fit_params: Any) -> None:
        fingerprints = {k: fit_params.pop(k) for k in ("source_fingerprint", "target_fingerprint")}
        for i, step in enumerate(self.steps):
            accepted = set(inspect.signature(step._fit).parameters)
            step.fit(X, y, **fingerprints, **{k: v for k, v in fit_params.items() if k in accepted})
            if i < len(self.steps) - 1:
                X = step.transform(X)

    def _output_dim(self) -> int:
        return self.steps[-1].output_dim_

    def _transform(self, X: np.ndarray) -> np.ndarray:
        for step in self.steps:
            X = step.transform(X)
        return X

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        return self.steps[-1].inverse_transform(codes)

    def prefix(self, dim: int) -> Chain:
        """The chain with its last step (a nested map) cut to its first ``dim`` outputs."""
        self._check_fitted()
        return Chain([*self.steps[:-1], self.steps[-1].prefix(dim)])

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

    # ------------------------------------------------------------ saving (through Map.save)
    def _save_parts(self, path: Path) -> dict[str, Any]:
        names = [f"{i:02d}-{step.kind}" for i, step in enumerate(self.steps)]
        for name, step in zip(names, self.steps, strict=True):
            step.save(path / name)
        return {"steps": names}

    @classmethod
    def _saved_params(cls, path: Path, config: dict[str, Any]) -> dict[str, Any]:
        return {"steps": [load_map(path / name) for name in config["steps"]]}

    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        return [layer for step in self.steps for layer in step.affine_layers()]
