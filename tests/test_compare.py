"""Comparison metrics (``repspace compare``): invariances with known answers, and cross-checks
against ckatorch (CKA), the Platonic Representation code (mutual-kNN), scipy (Procrustes,
Spearman) and the straightforward formulas of the papers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import repspace
from repspace import RepspaceError, Space
from repspace.metrics import cka, mutual_knn, procrustes, rsa, svcca


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def orthogonal(d: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(rng(seed).standard_normal((d, d)))
    return q


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Two related spaces of different dimensions (40 and 24), 600 rows."""
    x = rng().standard_normal((600, 40)) @ rng(1).standard_normal((40, 40)) + 2.0
    y = np.tanh(x @ rng(2).standard_normal((40, 24)) / 6) + 0.2 * rng(3).standard_normal((600, 24))
    return x, y


# --------------------------------------------------------------------------- CKA
def hsic_cka(k: np.ndarray, l_: np.ndarray) -> float:
    """Kornblith et al. 2019, Eq. 2-4: HSIC = tr(KHLH) / (n-1)^2, CKA = normalized HSIC."""
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h)) / (n - 1) ** 2

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def test_linear_cka_against_the_paper_formula_and_ckatorch(pair) -> None:
    import torch
    from ckatorch import cka_base

    x, y = pair
    ours = cka.linear_cka(x, y)
    assert ours == pytest.approx(hsic_cka(x @ x.T, y @ y.T), abs=1e-10)
    tx, ty = torch.tensor(x), torch.tensor(y)
    assert ours == pytest.approx(float(cka_base(tx, ty, kernel="linear")), abs=1e-10)
    debiased = cka.linear_cka(x, y, debiased=True)
    reference = float(cka_base(tx, ty, kernel="linear", unbiased=True))
    assert debiased == pytest.approx(reference, abs=1e-10)
    assert debiased != pytest.approx(ours, abs=1e-4)


def test_rbf_cka_against_ckatorch(pair) -> None:
    import torch
    from ckatorch import cka_base

    x, y = pair
    tx, ty = torch.tensor(x), torch.tensor(y)
    # ckatorch takes torch.median (the lower middle value) where the reference code's np.median
    # averages the two middle values: differences of ~1e-9
    for debiased in (False, True):
        ours = cka.rbf_cka(x, y, debiased=debiased)
        ref = float(cka_base(tx, ty, kernel="rbf", unbiased=debiased))
        assert ours == pytest.approx(ref, abs=1e-6)
    k = cka.rbf_gram(x)
    assert hsic_cka(k, cka.rbf_gram(y)) == pytest.approx(cka.rbf_cka(x, y), abs=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_is_invariant_to_orthogonal_maps_and_isotropic_scaling(debiased: bool) -> None:
    x = rng().standard_normal((300, 30)) * np.linspace(0.5, 3, 30)
    y = 4.5 * x @ orthogonal(30) + 7.0
    assert cka.linear_cka(x, y, debiased=debiased) == pytest.approx(1.0, abs=1e-10)
    assert cka.rbf_cka(x, y, debiased=debiased) == pytest.approx(1.0, abs=1e-10)
    # not invariant to non-isotropic scaling
    assert cka.linear_cka(x, x * np.linspace(1, 10, 30)) < 0.99


def test_cka_of_unrelated_spaces_is_small() -> None:
    x, y = rng().standard_normal((2_000, 20)), rng(1).standard_normal((2_000, 30))
    assert cka.linear_cka(x, y) < 0.05
    assert abs(cka.linear_cka(x, y, debiased=True)) < 0.01


# --------------------------------------------------------------------------- mutual kNN
def platonic_mutual_knn(a: np.ndarray, b: np.ndarray, topk: int) -> float:
    """Huh et al.'s ``mutual_knn`` (github.com/minyoungg/platonic-rep, metrics.py), in torch."""
    import torch
    import torch.nn.functional as F

    def knn(feats: torch.Tensor) -> torch.Tensor:
        return (feats @ feats.T).fill_diagonal_(-1e8).argsort(dim=1, descending=True)[:, :topk]

    fa = F.normalize(torch.tensor(a), dim=-1)
    fb = F.normalize(torch.tensor(b), dim=-1)
    ka, kb = knn(fa), knn(fb)
    n = ka.shape[0]
    rows = torch.arange(n).unsqueeze(1)
    ma, mb = torch.zeros(n, n), torch.zeros(n, n)
    ma[rows, ka] = 1.0
    mb[rows, kb] = 1.0
    return ((ma * mb).sum(dim=1) / topk).mean().item()


def test_mutual_knn_against_the_platonic_code(pair) -> None:
    x, y = pair
    assert mutual_knn.mutual_knn(x, y, 10) == pytest.approx(platonic_mutual_knn(x, y, 10), abs=1e-6)
    assert mutual_knn.mutual_knn(x, x, 10) == 1.0
    assert mutual_knn.mutual_knn(x, 3 * x @ orthogonal(40), 5) == 1.0
    unrelated = mutual_knn.mutual_knn(
        rng().standard_normal((500, 8)), rng(1).standard_normal((500, 8))
    )
    assert unrelated < 0.1


# --------------------------------------------------------------------------- SVCCA
def direct_svcca(x: np.ndarray, y: np.ndarray, keep: float = 0.99) -> float:
    """Raghu et al. 2017 step by step: SVD of each centred side, keep 99% of the variance, CCA
    of the reduced sides by QR (Björck & Golub), mean canonical correlation."""

    def reduce(z: np.ndarray) -> np.ndarray:
        z = z - z.mean(axis=0)
        u, s, _ = np.linalg.svd(z, full_matrices=False)
        k = int(np.searchsorted(np.cumsum(s**2) / (s**2).sum(), keep) + 1)
        return u[:, :k] * s[:k]

    qa, _ = np.linalg.qr(reduce(x))
    qb, _ = np.linalg.qr(reduce(y))
    return float(np.linalg.svd(qa.T @ qb, compute_uv=False).mean())


def test_svcca_against_the_direct_computation(pair) -> None:
    x, y = pair
    assert svcca.svcca(x, y) == pytest.approx(direct_svcca(x, y), abs=1e-8)
    # a rotated, scaled, shifted copy keeps the same directions: all correlations are 1
    assert svcca.svcca(x, 3 * x @ orthogonal(40) + 1) == pytest.approx(1.0, abs=1e-8)
    # (a general invertible map changes which directions hold 99% of the variance, so SVCCA,
    # unlike plain CCA, is not invariant to it; the direct computation agrees)
    z = x @ rng(5).standard_normal((40, 40))
    assert svcca.svcca(x, z) == pytest.approx(direct_svcca(x, z), abs=1e-8)


def test_svcca_caps_directions_at_n_over_10() -> None:
    x, y = rng().standard_normal((100, 50)), rng(1).standard_normal((100, 50))
    a, b = svcca.centered(x), svcca.centered(y)
    out = svcca.svcca_from_stats(a, b, svcca.cross_gram(x, y, a.mean, b.mean))
    assert out["directions"] == (10, 10)
    assert out["mean"] < 0.6  # uncapped, 50 directions on 100 rows would look related


# --------------------------------------------------------------------------- RSA, Procrustes
def test_rsa_against_scipy(pair) -> None:
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr

    x, y = pair
    expected = spearmanr(pdist(x, "cosine"), pdist(y, "cosine")).statistic
    assert rsa.rsa(x, y) == pytest.approx(expected, abs=1e-9)
    assert rsa.rsa(x, 2 * x @ orthogonal(40)) == pytest.approx(1.0, abs=1e-9)


def test_procrustes_against_scipy(pair) -> None:
    from scipy.linalg import orthogonal_procrustes

    def reference(a: np.ndarray, b: np.ndarray) -> float:
        a = a - a.mean(axis=0)
        b = b - b.mean(axis=0)
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        width = max(a.shape[1], b.shape[1])  # zero-pad the narrower side
        a = np.pad(a, ((0, 0), (0, width - a.shape[1])))
        b = np.pad(b, ((0, 0), (0, width - b.shape[1])))
        r, _ = orthogonal_procrustes(a, b)
        return float(np.linalg.norm(a @ r - b) ** 2)

    x, y = pair
    assert procrustes.procrustes_residual(x, y) == pytest.approx(reference(x, y), abs=1e-9)
    assert procrustes.procrustes_residual(x[:, :24], y) == pytest.approx(
        reference(x[:, :24], y), abs=1e-9
    )
    assert procrustes.procrustes_residual(x, 3 * x @ orthogonal(40) - 1) == pytest.approx(
        0.0, abs=1e-9
    )


# --------------------------------------------------------------------------- compare()
def test_compare_arrays_of_different_dims(pair) -> None:
    x, y = pair
    result = repspace.compare(x, y, names=["x", "y"], debiased=True, rsa_sample=300)
    p = result.pairs[0]
    assert (p["a"], p["b"]) == ("x", "y") and result.shared == 600
    assert result.joined_on == "row order" and result.dims == [40, 24]
    assert p["linear_cka"] == pytest.approx(cka.linear_cka(x, y))
    assert p["linear_cka_debiased"] == pytest.approx(cka.linear_cka(x, y, debiased=True))
    assert p["rbf_cka"] == pytest.approx(cka.rbf_cka(x, y))
    assert p["rbf_cka_debiased"] == pytest.approx(cka.rbf_cka(x, y, debiased=True))
    assert p["mutual_knn"] == pytest.approx(mutual_knn.mutual_knn(x, y))
    assert p["svcca"] == pytest.approx(svcca.svcca(x, y))
    assert p["procrustes_residual"] == pytest.approx(procrustes.procrustes_residual(x, y))
    rows = np.sort(np.random.default_rng(0).permutation(600)[:300])
    assert p["rsa"] == pytest.approx(rsa.rsa(x[rows], y[rows]), abs=1e-9)
    assert result.scope["rsa"] == "uniform sample of 300 of 600 shared rows"
    assert result.scope["linear_cka"] == "all 600 shared rows"
    assert result.metrics["linear_cka"][0] == [1.0, pytest.approx(p["linear_cka"])]


def test_compare_joins_on_ids_and_builds_matrices(tmp_path: Path, pair) -> None:
    x, y = pair
    ids = [f"d{i}" for i in range(600)]
    a = Space.from_arrays(tmp_path / "a", ids, x)
    order = rng(9).permutation(600)[:500]  # another order, 100 ids missing
    b = Space.from_arrays(tmp_path / "b", [ids[i] for i in order], y[order])
    c = Space.from_arrays(tmp_path / "c", ids[::-1], x[::-1] @ orthogonal(40))
    result = repspace.compare(a, b, c, rsa_sample=None, rbf_sample=None)
    assert result.shared == 500 and result.rows == [600, 500, 600]
    assert result.labels == [str(tmp_path / s) for s in "abc"]
    shared = [i for i in range(600) if i in set(order)]
    expected = cka.linear_cka(x[shared], y[shared])
    lin = np.array(result.metrics["linear_cka"])
    assert lin.shape == (3, 3) and np.allclose(lin, lin.T)
    assert lin[0, 1] == pytest.approx(expected) and lin[0, 2] == pytest.approx(1.0)
    assert np.diag(lin).tolist() == [1.0, 1.0, 1.0]
    assert np.array(result.metrics["procrustes_residual"])[0, 2] == pytest.approx(0, abs=1e-9)
    assert len(result.pairs) == 3


def test_compare_bad_input(tmp_path: Path) -> None:
    x = rng().standard_normal((10, 4))
    a = Space.from_arrays(tmp_path / "a", [f"a{i}" for i in range(10)], x)
    b = Space.from_arrays(tmp_path / "b", [f"b{i}" for i in range(10)], x)
    with pytest.raises(RepspaceError, match="share no ids"):
        repspace.compare(a, b)
    c = Space.from_arrays(tmp_path / "c", ["a1", "a2", "zz"], x[:3])
    with pytest.raises(RepspaceError, match="only 2 ids are shared"):
        repspace.compare(a, c)
    with pytest.raises(RepspaceError, match="at least two"):
        repspace.compare(a)
    for options in ({"k": 0}, {"sample": 2}, {"rbf_sample": 1}, {"rsa_sample": 0}):
        with pytest.raises(RepspaceError, match="the sample sizes at least 3"):
            repspace.compare(x, x, **options)
    with pytest.raises(RepspaceError, match="same number of rows"):
        repspace.compare(x, x[:5])
    bad = x.copy()
    bad[3] = 0.0
    with pytest.raises(RepspaceError, match="zero vectors"):
        repspace.compare(x, bad)
