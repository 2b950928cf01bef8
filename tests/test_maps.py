"""The Map contract (fit/transform/save/load, fingerprints, chains, applying to spaces) and each
compression map: truncate, PCA (against scikit-learn), the Matryoshka-Adaptor, int8 and binary."""

from __future__ import annotations

import inspect
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from repspace import RepspaceError, Space
from repspace.fsio import write_format_json
from repspace.maps import REGISTRY, Chain, Map, load_map, make_map, map_class
from repspace.maps.base import CONFIG, WEIGHTS
from repspace.maps.matryoshka import MatryoshkaAdaptor
from repspace.maps.quantize import BinaryQuantizer, Int8Quantizer


def low_rank(n: int = 300, dim: int = 32, rank: int = 6, seed: int = 0) -> np.ndarray:
    """Unit vectors near a ``rank``-dim subspace, in coordinates where truncation is poor."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0][:rank]
    x = rng.standard_normal((n, rank)) * np.linspace(3, 1, rank) @ basis
    x += 0.05 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


SMALL = {
    "truncate": {"dim": 8},
    "pca": {"dim": 8, "whiten": True},
    "matryoshka": {"dim": 8, "steps": 20},
    "int8": {},
    "binary": {"threshold": "median"},
}


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_contract_fit_transform_save_load(kind: str, tmp_path: Path) -> None:
    x = low_rank()
    m = make_map(kind, **SMALL[kind])
    # No work in the constructor: parameters only, stored under their own names.
    assert not m.fitted and m.get_params() == {
        **{p: v.default for p, v in inspect.signature(type(m)).parameters.items()},
        **SMALL[kind],
    } | ({"dims": None} if kind == "matryoshka" else {})
    with pytest.raises(RepspaceError, match="not fitted"):
        m.transform(x)
    assert m.fit(x) is m
    out = m.transform(x)
    assert len(out) == len(x) and m.output_dim_ == (8 if "dim" in SMALL[kind] else 32)
    assert m.source_fingerprint_ is None  # fitted on an array

    m.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "map.json").read_text())
    assert config["kind"] == kind and (tmp_path / "m" / "map.safetensors").is_file()
    again = load_map(tmp_path / "m")
    assert type(again) is type(m) and again.fingerprint == m.fingerprint
    np.testing.assert_array_equal(again.transform(x), out)
    assert Map.load(tmp_path / "m").fingerprint == m.fingerprint
    assert_no_pickle(tmp_path / "m")


def assert_no_pickle(path: Path) -> None:
    """The map's files are JSON and safetensors (a JSON header, then raw little-endian buffers
    that fill the rest of the file exactly), nothing else."""
    from safetensors.numpy import load_file

    assert {p.name for p in path.iterdir() if p.is_file()} == {CONFIG, WEIGHTS}
    json.loads((path / CONFIG).read_text())
    raw = (path / WEIGHTS).read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert sum(e - b for b, e in (t["data_offsets"] for t in tensors.values())) == (
        len(raw) - 8 - size
    )
    loaded = load_file(str(path / WEIGHTS))
    assert set(loaded) == set(tensors)
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in loaded.values())


def test_registry_and_unknown_kind() -> None:
    from repspace.maps.registry import (
        ALIGN_METHODS,
        COMPRESS_METHODS,
        MIGRATE_METHODS,
        QUANTIZERS,
        methods,
    )

    for kind in REGISTRY:
        assert map_class(kind).kind == kind
    with pytest.raises(RepspaceError, match="unknown map kind"):
        map_class("nope")
    # One registry says what each kind is for; the method lists derive from it.
    assert methods("compress") == ("truncate", "pca", "pca-whiten", "matryoshka")
    assert QUANTIZERS == ("int8", "binary")
    assert "pca-whiten+binary" in COMPRESS_METHODS and "int8" in COMPRESS_METHODS
    adapters = ("low-rank", "residual-mlp", "residual-mlp-infonce")
    linear = ("procrustes", "linear", "affine", "cca")
    assert (*linear, *adapters, "relative") == ALIGN_METHODS
    assert (*linear, *adapters) == MIGRATE_METHODS
    assert make_map("pca-whiten", dim=4).get_params() == {"dim": 4, "whiten": True}
    with pytest.raises(RepspaceError, match="unknown alignment method 'pca'"):
        make_map("pca", "align", dim=4)


def test_params_follow_sklearn(tmp_path: Path) -> None:
    from sklearn.base import clone

    m = make_map("pca", dim=8)
    assert m.set_params(whiten=True) is m and m.whiten is True
    with pytest.raises(RepspaceError, match="invalid parameter 'dims' for PCA"):
        m.set_params(dims=4)
    # scikit-learn's own clone() works from get_params.
    c = clone(m)
    assert type(c) is type(m) and c.get_params() == m.get_params() and not c.fitted
    chain = Chain([make_map("pca", dim=8), make_map("truncate", dim=4), make_map("pca", dim=2)])
    params = chain.get_params()
    assert params["pca-1__dim"] == 8 and params["truncate__dim"] == 4 and params["pca-2__dim"] == 2
    assert set(chain.get_params(deep=False)) == {"steps"}
    chain.set_params(truncate__dim=6, **{"pca-2": make_map("truncate", dim=3)})
    assert chain.steps[1].dim == 6 and chain.steps[2].kind == "truncate"
    with pytest.raises(RepspaceError, match="invalid parameter 'int8__quantile'"):
        chain.set_params(int8__quantile=0.1)


def test_learned_state_is_set_by_fit_only() -> None:
    x = low_rank()
    m = make_map("matryoshka", dim=8, steps=5, validation=0)
    assert not any(k.endswith("_") for k in vars(m))
    m.fit(x)
    assert m.rotation_ is not None
    # A refit starts afresh: no state of the previous fit survives (rotation_ would be used).
    plain = make_map("matryoshka", dim=8, steps=5, validation=0, rotate=False).fit(x)
    m.set_params(rotate=False).fit(x)
    assert not hasattr(m, "rotation_") and m.fingerprint == plain.fingerprint


def test_prefix_of_nested_maps(tmp_path: Path) -> None:
    x = low_rank()
    for m in (make_map("truncate", dim=16), make_map("pca", dim=16, whiten=True)):
        m.fit(x)
        small = m.prefix(6)
        assert small is not m and m.output_dim_ == 16 and small.output_dim_ == 6
        np.testing.assert_allclose(small.transform(x), m.transform(x)[:, :6], atol=1e-6)
        np.testing.assert_allclose(
            small.transform(x), type(m)(**{**m.get_params(), "dim": 6}).fit(x).transform(x),
            atol=1e-5,
        )  # fmt: skip
        small.save(tmp_path / m.kind)
        assert load_map(tmp_path / m.kind).fingerprint == small.fingerprint
    adaptor = make_map("matryoshka", dim=16, steps=5).fit(x)
    np.testing.assert_allclose(
        adaptor.prefix(4).transform(x), adaptor.transform(x)[:, :4], atol=1e-6
    )
    chain = Chain([make_map("pca", dim=20), make_map("truncate", dim=12)]).fit(x)
    np.testing.assert_array_equal(chain.prefix(5).transform(x), chain.transform(x)[:, :5])
    with pytest.raises(RepspaceError, match="between 1 and the space's 16"):
        m.prefix(17)
    quantized = Chain([make_map("pca", dim=4), make_map("binary")]).fit(x)
    for not_nested in (make_map("int8").fit(x), quantized):
        with pytest.raises(RepspaceError, match=r"(int8|binary) map is not nested"):
            not_nested.prefix(2)
    with pytest.raises(RepspaceError, match="not fitted"):
        make_map("pca", dim=4).prefix(2)


def test_truncate_and_pca_against_sklearn() -> None:
    from sklearn.decomposition import PCA as SkPCA

    x = low_rank()
    np.testing.assert_array_equal(make_map("truncate", dim=5).fit(x).transform(x), x[:, :5])
    for whiten in (False, True):
        ours = make_map("pca", dim=5, whiten=whiten).fit(x)
        ref = SkPCA(5, whiten=whiten, svd_solver="full").fit(x)
        np.testing.assert_allclose(ours.transform(x), ref.transform(x), atol=2e-4)
        np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-4)


def test_bad_input_is_one_line_errors() -> None:
    x = low_rank()
    with pytest.raises(RepspaceError, match="between 1 and the space's 32"):
        make_map("pca", dim=64).fit(x)
    with pytest.raises(RepspaceError, match="between 1 and the space's 32"):
        make_map("truncate", dim=0).fit(x)
    bad = x.copy()
    bad[7, 3] = np.nan
    for kind in SMALL:
        with pytest.raises(RepspaceError, match="row 7 contains NaN"):
            make_map(kind, **SMALL[kind]).fit(bad)
    m = make_map("truncate", dim=4).fit(x)
    with pytest.raises(RepspaceError, match="expects 32-dim vectors, got 16"):
        m.transform(x[:, :16])


def test_quantizers_codes_and_decoding() -> None:
    x = low_rank()
    q = Int8Quantizer().fit(x)
    codes = q.transform(x)
    assert codes.dtype == np.int8 and q.bytes_per_vector == 32
    assert codes.min() == -128 and codes.max() == 127  # the calibrated range is used fully
    np.testing.assert_allclose(q.inverse_transform(codes), x, atol=q.step_.max() / 2 + 1e-6)

    b = BinaryQuantizer().fit(x)
    bits = b.transform(x)
    assert bits.dtype == np.uint8 and bits.shape == (300, 4) and b.bytes_per_vector == 4
    signs = b.inverse_transform(bits)
    np.testing.assert_array_equal(signs, np.where(x > 0, 1.0, -1.0))
    # ±1 dot products are dim - 2 * Hamming distance.
    ham = np.unpackbits(bits[0] ^ bits[1]).sum()
    assert signs[0] @ signs[1] == 32 - 2 * ham
    med = BinaryQuantizer("median").fit(x).transform(x)
    assert abs(np.unpackbits(med, axis=1).mean() - 0.5) < 0.01


@pytest.mark.slow
def test_matryoshka_adaptor_is_deterministic_and_beats_truncation() -> None:
    x = low_rank(n=400, dim=32, rank=6)
    a = MatryoshkaAdaptor(dims=(4, 8, 32), steps=100, rotate=False, seed=3).fit(x)
    b = MatryoshkaAdaptor(dims=(4, 8, 32), steps=100, rotate=False, seed=3).fit(x)
    np.testing.assert_array_equal(a.weight1_, b.weight1_)
    assert a.fingerprint == b.fingerprint
    out = a.transform(x)
    assert out.shape == (400, 32)

    def pair_error(y: np.ndarray) -> float:
        yn = y / np.linalg.norm(y, axis=1, keepdims=True)
        return float(np.abs(yn @ yn.T - x @ x.T).mean())

    # The point of the adaptor: its prefixes keep the similarity structure far better than
    # the raw prefixes (the data's variance is spread over all coordinates).
    assert pair_error(out[:, :8]) < 0.5 * pair_error(x[:, :8])
    # The skip connection and the reconstruction term keep the full vectors close.
    assert pair_error(out) < 0.05


def test_matryoshka_neighbours_exact_and_pooled() -> None:
    from repspace.maps.matryoshka import neighbours

    x = low_rank(n=300, dim=16, rank=5)
    rng = np.random.default_rng(0)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    got = neighbours(x, 5, None, rng, block=64)  # blocks: the diagonal is masked in each
    np.testing.assert_array_equal(got, np.argsort(-sim, axis=1, kind="stable")[:, :5])
    pooled = neighbours(x, 5, 100, rng)  # within random groups of ~100 rows
    assert pooled.shape == (300, 5) and not (pooled == np.arange(300)[:, None]).any()
    # The r-th best neighbour within a subset is never more similar than the r-th best overall.
    rows = np.arange(300)[:, None]
    assert (sim[rows, pooled] <= sim[rows, got] + 1e-6).all()
    assert (np.diff(sim[rows, pooled], axis=1) <= 1e-6).all()  # most similar first


def test_matryoshka_early_stopping_keeps_the_best_weights() -> None:
    x = low_rank(n=300, dim=16, rank=4)
    m = MatryoshkaAdaptor(dim=8, steps=400, patience=20, check_every=10, lr=0.05).fit(x)
    assert m.best_step_ <= m.steps_run_ <= 400 and m.validation_loss_ is not None
    none = MatryoshkaAdaptor(dim=8, steps=15, validation=0).fit(x)
    assert none.steps_run_ == 15 and none.validation_loss_ is None


def test_matryoshka_supervised_stage_keeps_unsupervised_weights_on_pairs_without_signal() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    q = rng.normal(size=(100, 16)).astype(np.float32)
    noise = x[rng.permutation(300)[:100]]  # positives unrelated to their queries
    plain = MatryoshkaAdaptor(dim=8, steps=50).fit(x)
    sup = MatryoshkaAdaptor(dim=8, steps=50, supervised_steps=100).fit(x, pairs=(q, noise))
    assert sup.supervised_best_step_ == 0
    assert np.array_equal(sup.transform(x), plain.transform(x))


def test_matryoshka_supervised_pairs() -> None:
    x = low_rank(n=200, dim=16, rank=4)
    q = x + 0.1 * np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    m = MatryoshkaAdaptor(dim=4, steps=10, supervised_steps=10).fit(x, pairs=(q[:50], x[:50]))
    assert m.supervised_ and m.transform(q).shape == (200, 4)
    with pytest.raises(RepspaceError, match="pairs must be two"):
        MatryoshkaAdaptor(steps=1).fit(x, pairs=(q[:5], x[:4]))


def test_chain_fits_in_order_and_saves(tmp_path: Path) -> None:
    x = low_rank()
    chain = Chain([make_map("pca", dim=8), make_map("binary")]).fit(x)
    assert chain.output_dim_ == 8 and chain.bytes_per_vector == 1 and chain.quantizer
    pca = make_map("pca", dim=8).fit(x)
    np.testing.assert_array_equal(
        chain.transform(x), make_map("binary").fit(pca.transform(x)).transform(pca.transform(x))
    )
    chain.save(tmp_path / "c")
    # One writer: the chain's directory holds map.json + map.safetensors like any map, its steps
    # in subdirectories written the same way.
    assert_no_pickle(tmp_path / "c")
    for step in ("00-pca", "01-binary"):
        assert_no_pickle(tmp_path / "c" / step)
    again = load_map(tmp_path / "c")
    assert isinstance(again, Chain) and again.fingerprint == chain.fingerprint
    np.testing.assert_array_equal(again.transform(x), chain.transform(x))
    with pytest.raises(RepspaceError, match="last map of a chain"):
        Chain([make_map("int8"), make_map("pca", dim=4)]).fit(x)
    # A chain of fitted maps is fitted: its state is its steps'.
    fitted = Chain([pca, make_map("int8").fit(pca.transform(x))])
    assert fitted.fitted and fitted.input_dim_ == 32 and fitted.output_dim_ == 8
    assert not Chain([pca, make_map("int8")]).fitted


def test_tampered_map_is_refused(tmp_path: Path) -> None:
    make_map("pca", dim=4).fit(low_rank()).save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "map.json").read_text())
    config["params"]["whiten"] = True
    (tmp_path / "m" / "map.json").write_text(json.dumps(config))
    with pytest.raises(RepspaceError, match="does not match its checksum"):
        load_map(tmp_path / "m")
    write_format_json(tmp_path / "m" / "map.json", config)  # resealed: the fingerprint catches it
    with pytest.raises(RepspaceError, match="do not match the fingerprint"):
        load_map(tmp_path / "m")
    with pytest.raises(RepspaceError, match="not a repspace map"):
        load_map(tmp_path)


def test_apply_writes_a_space_with_transforms(tmp_path: Path) -> None:
    x = low_rank()
    ids = [f"d{i}" for i in range(len(x))]
    src = Space.from_arrays(tmp_path / "src", ids, x, columns={"text": ids}, model="m1")
    m = make_map("pca", dim=8).fit(src)
    assert m.source_fingerprint_ == src.fingerprint
    out = m.apply(src, tmp_path / "out")
    assert out.dim == 8 and out.ids == ids and out.texts == ids
    np.testing.assert_allclose(out.vectors, m.transform(x), atol=1e-6)
    entry = out.manifest["transforms"][-1]
    assert entry["kind"] == "pca" and entry["fingerprint"] == m.fingerprint
    assert entry["applied_to"] == src.fingerprint and out.fingerprint != src.fingerprint
    # The same map on the same source gives the same fingerprint; spaces mapped alike mix.
    assert m.apply(src, tmp_path / "out2").fingerprint == out.fingerprint

    other = Space.from_arrays(tmp_path / "other", ids, x, model="m2")
    with pytest.raises(RepspaceError, match="pass --force"):
        m.apply(other, tmp_path / "o")
    assert m.apply(other, tmp_path / "o", force=True).n == len(x)

    q = Chain([make_map("truncate", dim=16), make_map("int8")]).fit(src)
    qs = q.apply(src, tmp_path / "q")  # quantizers write their decoded vectors
    np.testing.assert_allclose(qs.vectors, q.inverse_transform(q.transform(x)))
    assert qs.manifest["transforms"][-1]["steps"][1]["kind"] == "int8"
