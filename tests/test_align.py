"""Alignment maps and ``repspace align``."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import assert_one_line_error, run
from repspace import RepspaceError, Space, align, load_map
from repspace.cli import app
from repspace.maps import ALIGN_METHODS, AffineMap, make_map
from repspace.maps.aligners import Relative, target_side


def _rot(d: int, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q


def test_procrustes_recovers_rotation_to_noise_level() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 24))
    R = _rot(24, rng)
    noise = 0.01
    Y = X @ R + noise * rng.normal(size=X.shape)
    m = make_map("procrustes").fit(X[:300], Y[:300])
    err = np.abs(m.transform(X[300:]) - Y[300:]).std()
    assert err < 1.5 * noise
    assert np.allclose(m.weight_, R, atol=0.01)


def test_procrustes_default_keeps_cosines_and_center_recovers_a_shift() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 16))
    R = _rot(16, rng)
    Y = X @ R + 5.0
    plain = make_map("procrustes").fit(X, Y)
    assert not plain.bias_.any()
    mapped = plain.transform(X[:50])
    unit = mapped / np.linalg.norm(mapped, axis=1, keepdims=True)
    x = X[:50] / np.linalg.norm(X[:50], axis=1, keepdims=True)
    assert np.allclose(unit @ unit.T, x @ x.T, atol=1e-5)
    centred = make_map("procrustes", center=True).fit(X, Y)
    assert np.allclose(centred.transform(X), Y, atol=1e-4)


def test_relative_invariant_to_rotation_and_scale() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 16))
    Y = 3.7 * X @ _rot(16, rng)
    for how in ("random", "kmeans", "farthest"):
        m = Relative(n_anchors=20, anchor_choice=how, seed=0).fit(X, Y)
        assert np.allclose(m.transform(X), m.transform_target(Y), atol=1e-4)


@pytest.mark.parametrize("method", ALIGN_METHODS)
def test_each_method_on_different_dims(method: str) -> None:
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(300, 12))
    X = Z @ rng.normal(size=(12, 20))
    Y = Z @ rng.normal(size=(12, 32))
    m = make_map(method, "align").fit(X[:200], Y[:200])
    mapped = m.transform(X[200:])
    tgt = target_side(m, Y[200:])
    assert mapped.shape == tgt.shape
    cos = (mapped * tgt).sum(1) / np.linalg.norm(mapped, axis=1) / np.linalg.norm(tgt, axis=1)
    # procrustes only rotates, relative keeps angles; the others fit the linear relation (the
    # residual MLPs by gradient descent from Procrustes, early-stopped)
    mlp = method.startswith("residual-mlp")
    assert cos.mean() > (0.6 if method in ("procrustes", "relative") else 0.85 if mlp else 0.9)
    if mlp:
        with pytest.raises(RepspaceError, match="cannot be exported"):
            m.affine_layers()
    elif method != "relative":
        # One affine map x @ weight_ + bias_, exported as one dense layer (CCA included).
        assert isinstance(m, AffineMap)
        ((w, b, act),) = m.affine_layers()
        assert w.shape == (32, 20) and act == "identity"
        np.testing.assert_allclose(X[200:] @ w.T + b, mapped, rtol=1e-4, atol=1e-4)


def test_fit_takes_y_and_fingerprints() -> None:
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(50, 6)), rng.normal(size=(50, 4))
    m = make_map("linear").fit(X, Y, source_fingerprint="s" * 64, target_fingerprint="t" * 64)
    assert (m.input_dim_, m.target_dim_, m.output_dim_) == (6, 4, 4)
    assert m.source_fingerprint_ == "s" * 64 and m.target_fingerprint_ == "t" * 64
    with pytest.raises(RepspaceError, match="needs the target vectors y"):
        make_map("cca").fit(X)
    with pytest.raises(RepspaceError, match="50 source rows for 49 target rows"):
        make_map("cca").fit(X, Y[:49])
    with pytest.raises(RepspaceError, match="3 anchors, needs at least 4"):
        make_map("cca").fit(X[:3], Y[:3])


def _spaces(tmp_path, d1=16, d2=24, n=120, shared=None):
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(n, 8))
    X = Z @ rng.normal(size=(8, d1))
    Y = Z @ rng.normal(size=(8, d2))
    ids = [f"d{i}" for i in range(n)]
    a = Space.from_arrays(tmp_path / "a", ids, X.astype(np.float32))
    ids2 = ids if shared is None else [f"x{i}" for i in range(n)]
    b = Space.from_arrays(tmp_path / "b", ids2, Y.astype(np.float32))
    return a, b


def test_align_api_report_and_saved_map(tmp_path) -> None:
    a, b = _spaces(tmp_path)
    res = align(a, b, "linear", anchors=0.5, out=tmp_path / "map", report=tmp_path / "r.html")
    met = res.metrics
    assert met["mean_cosine"] > 0.95 and met["retrieval_r@10"] > 0.9
    assert met["cka_after"] >= met["cka_before"] - 1e-6
    assert res.curve and "<svg" in (tmp_path / "r.html").read_text()
    data = res.to_dict()  # the --json output: the map's path, not the fitted map
    assert list(data)[-3:] == ["curve", "map", "report"] and data["map"] == str(tmp_path / "map")
    assert "fitted" not in data and res.fitted.source_fingerprint_ == a.fingerprint
    m = load_map(tmp_path / "map")
    assert m.source_fingerprint_ == a.fingerprint
    with pytest.raises(RepspaceError, match="fingerprint"):
        m.check_space(b.fingerprint, "b")


def test_bad_input(tmp_path) -> None:
    a, b = _spaces(tmp_path, shared=False)
    with pytest.raises(RepspaceError, match="share no ids"):
        align(a, b)
    a2, b2 = _spaces(tmp_path / "2")
    with pytest.raises(RepspaceError, match="needs at least 4"):
        align(a2, b2, "cca", anchors=2)
    m = make_map("procrustes").fit(np.ones((5, 3)), np.ones((5, 4)))
    with pytest.raises(RepspaceError, match="expects 3-dim"):
        m.transform(np.ones((2, 5)))
    assert_one_line_error(run("align", a.path, b.path), "share no ids")


def test_cli_align_json(tmp_path) -> None:
    a, b = _spaces(tmp_path)
    r = CliRunner().invoke(
        app,
        [
            "align",
            str(a.path),
            str(b.path),
            "--method",
            "procrustes",
            "--anchors",
            "60",
            "--out",
            str(tmp_path / "m"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert '"anchors": 60' in r.output
