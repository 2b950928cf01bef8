"""Alignment maps: fitted on paired rows (source ``X``, target ``y``: the same ids in two spaces)
so that ``transform(source)`` lands in the target space.

- ``procrustes``: orthogonal Procrustes (Schönemann 1966), optional global scale; when dims
  differ the smaller side is zero-padded (Smith et al. 2017 style, no information lost).
  Uncentred by default, as in Schönemann and ``scipy.linalg.orthogonal_procrustes``: the map is
  a rotation about the origin, so cosine similarities among mapped vectors are exactly NEW's.
- ``linear``: ridge regression ``X W ≈ y`` without intercept (Mikolov et al. 2013, "Exploiting
  Similarities among Languages for Machine Translation"), alpha by leave-one-out CV (RidgeCV).
- ``affine``: the same with an intercept (centred ridge).
- ``cca``: canonical correlation analysis (Hotelling 1936), our own via the SVD of the whitened
  cross-covariance (ridge-regularised covariances); maps source → the target's canonical
  coordinates back-projected into the target space (so it is a source→target map).
- ``relative``: relative representations (Moschella et al. 2023): cosine to anchors. Both spaces
  are mapped into a shared ``n_anchors``-dim space; ``transform`` maps the source,
  ``transform_target`` the target. Anchors: random, k-means centres or farthest-point.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from repspace.errors import RepspaceError
from repspace.kernels import unit_rows
from repspace.maps.base import AffineMap, Map, as_matrix


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


class _Aligner(Map):
    """A map between two spaces: ``fit(X, y)`` on paired rows, ``y`` the target rows (the same
    ids in the same order), at least ``min_anchors`` of them."""

    requires_y = True
    #: Fewest paired rows the method needs (well-posed, not merely computable).
    min_anchors: ClassVar[int] = 2

    def _check_target(self, X: np.ndarray, y: Any) -> tuple[np.ndarray, str | None]:
        target, fingerprint = super()._check_target(X, y)
        if len(X) < self.min_anchors:
            raise RepspaceError(
                f"{self.kind} map: {len(X)} anchors, needs at least {self.min_anchors}; "
                "use more shared ids (--anchors)"
            )
        return target, fingerprint

    def _output_dim(self) -> int:
        return self.target_dim_


class Procrustes(_Aligner, AffineMap):
    """``x -> s * pad(x - mu_x) @ R + mu_y`` with ``R`` orthogonal (``scale``: ``s`` fitted, else 1;
    ``center``: subtract/add the anchors' means, else ``mu = 0``).

    ``center=False`` is the default, as in Xing et al. 2015 and Smith et al. 2017: with few
    anchors the anchor means are noisy, and queries (short titles) sit elsewhere than the
    documents the means come from. Measured in ``bench/align.py`` (10% of documents and their
    sentences as anchors, share of OLD->OLD nDCG@10, uncentred vs centred): model2vec -> MiniLM
    papers 0.968 vs 0.937, STS 0.713 vs 0.559, stdlib 1.061 vs 1.049; MiniLM -> mpnet within
    0.02 on papers and stdlib but STS 0.592 vs 0.612; MiniLM -> model2vec STS 0.540 vs 0.646."""

    kind = "procrustes"

    def __init__(self, scale: bool = False, center: bool = False):
        self.scale = scale
        self.center = center

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        X, Y = _f64(X), _f64(y)
        d = max(X.shape[1], Y.shape[1])
        mx = X.mean(0) if self.center else np.zeros(X.shape[1])
        my = Y.mean(0) if self.center else np.zeros(Y.shape[1])
        Xp = np.zeros((len(X), d))
        Xp[:, : X.shape[1]] = X - mx
        Yp = np.zeros((len(Y), d))
        Yp[:, : Y.shape[1]] = Y - my
        u, sv, vt = np.linalg.svd(Xp.T @ Yp)
        R = u @ vt
        s = float(sv.sum() / max((Xp**2).sum(), 1e-12)) if self.scale else 1.0
        self.weight_ = (s * R[: X.shape[1], : Y.shape[1]]).astype(np.float32)
        self.bias_ = (my - (mx @ (s * R[: X.shape[1], : Y.shape[1]]))).astype(np.float32)
        self.scale_ = s


class Linear(_Aligner, AffineMap):
    """Ridge ``x -> x @ W`` (``fit_intercept=False``), alpha by RidgeCV (leave-one-out GCV)."""

    kind = "linear"
    min_anchors = 3  # RidgeCV with leave-one-out; ridge handles n < dim, but quality will be low
    _intercept = False

    def __init__(self, alphas: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)):
        self.alphas = alphas

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        from sklearn.linear_model import RidgeCV

        r = RidgeCV(alphas=tuple(self.alphas), fit_intercept=self._intercept)
        r.fit(_f64(X), _f64(y))
        self.weight_ = np.asarray(r.coef_, dtype=np.float32).T.copy()
        bias = r.intercept_ if self._intercept else np.zeros(self.target_dim_)
        self.bias_ = np.asarray(bias, dtype=np.float32).reshape(-1)
        self.alpha_ = float(r.alpha_)


class Affine(Linear):
    """Ridge with an intercept: ``x -> x @ W + b``."""

    kind = "affine"
    _intercept = True


def _inv_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(np.maximum(w, 1e-12))) @ v.T


class CCA(_Aligner, AffineMap):
    """Top-``n_components`` canonical directions (own implementation: SVD of
    ``Cxx^-1/2 Cxy Cyy^-1/2``, covariances regularised by ``reg * trace/dim``). ``transform``
    maps source → canonical coordinates (scaled by the canonical correlations) → back into the
    target space through the target's canonical loadings, so the output lives in target space."""

    kind = "cca"
    min_anchors = 4

    def __init__(self, n_components: int | None = None, reg: float = 1e-3):
        self.n_components = n_components
        self.reg = reg

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        X, Y = _f64(X), _f64(y)
        n = len(X)
        k = self.n_components or min(X.shape[1], Y.shape[1], n - 1)
        if k > min(X.shape[1], Y.shape[1], n - 1):
            raise RepspaceError(
                f"cca map: n_components={k} exceeds min(source dim, target dim, anchors - 1) = "
                f"{min(X.shape[1], Y.shape[1], n - 1)}; lower it or use more anchors"
            )
        mx, my = X.mean(0), Y.mean(0)
        Xc, Yc = X - mx, Y - my
        cxx = Xc.T @ Xc / (n - 1)
        cyy = Yc.T @ Yc / (n - 1)
        cxx += np.eye(len(cxx)) * self.reg * max(np.trace(cxx) / len(cxx), 1e-12)
        cyy += np.eye(len(cyy)) * self.reg * max(np.trace(cyy) / len(cyy), 1e-12)
        wx, wy = _inv_sqrt(cxx), _inv_sqrt(cyy)
        u, s, vt = np.linalg.svd(wx @ (Xc.T @ Yc / (n - 1)) @ wy, full_matrices=False)
        a = wx @ u[:, :k]  # source canonical directions (dim_x, k)
        b = wy @ vt[:k].T  # target canonical directions (dim_y, k)
        # target canonical coords z = (y - my) @ b; back-projection y ≈ z @ pinv(b)
        back = np.linalg.pinv(b)
        W = a * s[:k] @ back
        self.weight_ = W.astype(np.float32)
        self.bias_ = (my - mx @ W).astype(np.float32)
        self.correlations_ = s[:k].astype(np.float32)
        self.source_directions_ = a.astype(np.float32)
        self.target_directions_ = b.astype(np.float32)
        self.n_components_ = int(k)


def choose_anchors(X: np.ndarray, k: int, how: str, seed: int) -> np.ndarray:
    """Row indices of ``k`` anchors: ``random``, ``kmeans`` (row nearest each k-means centre)
    or ``farthest`` (greedy farthest-point by cosine, from a random start)."""
    rng = np.random.default_rng(seed)
    n = len(X)
    k = min(k, n)
    if how == "random":
        return np.sort(rng.choice(n, k, replace=False))
    u = unit_rows(X)
    if how == "farthest":
        chosen = [int(rng.integers(n))]
        best = u @ u[chosen[0]]
        for _ in range(k - 1):
            i = int(np.argmin(best))
            chosen.append(i)
            best = np.maximum(best, u @ u[i])
        return np.array(chosen)
    if how == "kmeans":
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(u)
        sims = unit_rows(km.cluster_centers_) @ u.T
        picked: list[int] = []
        for row in sims:
            for i in np.argsort(-row):
                if int(i) not in picked:
                    picked.append(int(i))
                    break
        return np.array(picked)
    raise RepspaceError(
        f"relative map: unknown anchor choice {how!r}; use random, kmeans, farthest"
    )


class Relative(_Aligner):
    """Relative representation (Moschella et al. 2023): ``x -> cos(x, anchors_x)``. Fitted on
    paired rows, it keeps ``n_anchors`` of them (chosen by ``anchor_choice``) in both spaces;
    ``transform`` embeds source vectors, ``transform_target`` target vectors, into the same
    ``n_anchors``-dim relative space (rotation- and scale-invariant by construction)."""

    kind = "relative"

    def __init__(self, n_anchors: int | None = None, anchor_choice: str = "random", seed: int = 0):
        self.n_anchors = n_anchors
        self.anchor_choice = anchor_choice
        self.seed = seed

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        k = self.n_anchors or len(X)
        idx = choose_anchors(_f64(X), k, self.anchor_choice, self.seed)
        self.source_anchors_ = unit_rows(X[idx])
        self.target_anchors_ = unit_rows(_f64(y)[idx])
        self.anchor_rows_ = idx.astype(np.int64)

    def _output_dim(self) -> int:
        return len(self.source_anchors_)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return unit_rows(X) @ self.source_anchors_.T

    def transform_target(self, Y: Any) -> np.ndarray:
        self._check_fitted()
        vectors, _ = as_matrix(Y)
        if vectors.shape[1] != self.target_dim_:
            raise RepspaceError(
                f"relative map expects {self.target_dim_}-dim target vectors, "
                f"got {vectors.shape[1]}"
            )
        return unit_rows(vectors) @ self.target_anchors_.T


def target_side(m: Map, Y: np.ndarray) -> np.ndarray:
    """Target vectors in the space the map's output lives in (identity except ``relative``)."""
    return m.transform_target(Y) if isinstance(m, Relative) else np.asarray(Y, dtype=np.float32)
