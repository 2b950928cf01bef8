"""Drift-Adapter maps: the low-rank affine map (closed form, rank by validation) and the
residual MLP (torch, seeded, early stopping), on the Map contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repspace import RepspaceError
from repspace.maps.adapters import LowRankAffine, ResidualMLP
from repspace.maps.base import load_map
from repspace.maps.registry import MIGRATE_METHODS, make_map


def _pairs(n: int = 1500, dx: int = 48, dy: int = 32, seed: int = 0, curve: float = 0.0):
    """NEW (dx) -> OLD (dy): a padded rotation plus a rank-3 affine drift, optionally plus a
    non-linear part ``curve * tanh``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dx)).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((dx, dx)))
    low = rng.standard_normal((dx, 3)) @ rng.standard_normal((3, dy)) * 0.3
    Y = X @ (q[:, :dy] + low) + 0.5
    Y += curve * np.tanh(X @ rng.standard_normal((dx, dy)) / np.sqrt(dx)) ** 2
    return X, Y.astype(np.float32)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).mean())


def test_registered_for_migration() -> None:
    assert {"low-rank", "residual-mlp"} <= set(MIGRATE_METHODS)


def test_low_rank_affine_recovers_a_low_rank_drift_and_exports(tmp_path: Path) -> None:
    X, Y = _pairs()
    m = make_map("low-rank").fit(X[:1200], Y[:1200])
    assert m.rank_ >= 3 and m.validation_scores_  # chosen on held-out pairs
    assert _cos(m.transform(X[1200:]), Y[1200:]) > 0.999
    ((w, b, act),) = m.affine_layers()  # affine: one dense layer
    assert act == "identity" and np.allclose(X[:5] @ w.T + b, m.transform(X[:5]), atol=1e-5)
    fixed = LowRankAffine(rank=0).fit(X[:1200], Y[:1200])  # Procrustes plus the mean offset
    assert fixed.rank_ == 0
    assert _cos(fixed.transform(X[1200:]), Y[1200:]) < _cos(m.transform(X[1200:]), Y[1200:])
    with pytest.raises(RepspaceError, match=r"rank 99 must be in 0\.\.32"):
        LowRankAffine(rank=99).fit(X, Y)
    m.save(tmp_path / "lr")
    assert np.array_equal(load_map(tmp_path / "lr").transform(X), m.transform(X))


def test_residual_mlp_learns_a_non_linear_drift_seeded() -> None:
    X, Y = _pairs(n=3000, curve=1.0)
    lin = make_map("low-rank").fit(X[:2500], Y[:2500])
    mlp = ResidualMLP(max_epochs=30).fit(X[:2500], Y[:2500], init=lin)  # the residual part
    err = lambda m: float(((m.transform(X[2500:]) - Y[2500:]) ** 2).mean())  # noqa: E731
    assert 0 < mlp.best_epoch_ <= 30 and err(mlp) < 0.9 * err(lin)
    again = ResidualMLP(max_epochs=30).fit(X[:2500], Y[:2500], init=lin)
    assert np.array_equal(again.transform(X[:10]), mlp.transform(X[:10]))  # seeded
    with pytest.raises(RepspaceError, match="cannot be exported"):
        mlp.affine_layers()


def test_residual_mlp_starts_from_a_given_map(tmp_path: Path) -> None:
    X, Y = _pairs(n=1000, curve=1.0)
    bridge = ResidualMLP(max_epochs=5).fit(X[:800], Y[:800])
    bridge.save(tmp_path / "b")
    refined = ResidualMLP(max_epochs=0).fit(X[800:], Y[800:], init=load_map(tmp_path / "b"))
    assert np.allclose(refined.transform(X[:20]), bridge.transform(X[:20]), atol=1e-5)
    affine = make_map("affine").fit(X, Y)
    start = ResidualMLP(max_epochs=0).fit(X, Y, init=affine)  # the skip connection only
    assert np.allclose(start.transform(X[:20]), affine.transform(X[:20]), atol=1e-4)
    with pytest.raises(RepspaceError, match="maps 48 -> 32 dims, these pairs 32 -> 32"):
        ResidualMLP().fit(Y, Y, init=bridge)


def test_too_few_anchors_and_nan_are_refused() -> None:
    X, Y = _pairs(n=150)
    with pytest.raises(RepspaceError, match="residual-mlp map: 50 anchors, needs at least 100"):
        make_map("residual-mlp").fit(X[:50], Y[:50])
    with pytest.raises(RepspaceError, match="low-rank map: 10 anchors, needs at least 20"):
        make_map("low-rank").fit(X[:10], Y[:10])
    Y[7, 3] = np.nan
    with pytest.raises(RepspaceError, match="row 7 contains NaN"):
        make_map("low-rank").fit(X, Y)
