"""Intrinsic dimension from nearest-neighbour distances: how many degrees of freedom the data
manifold has locally, whatever the ambient dimension.

Both estimators use chord distances between L2-normalized rows (``sqrt(2 - 2 cos)``), the
cosine geometry every other neighbour metric here uses; on a unit-norm space this is the
Euclidean distance. Rows with a duplicate (nearest distance 0) are left out, as Facco et al.
recommend.
"""

from __future__ import annotations

import numpy as np

from repspace.kernels import cosine_knn, unit_rows

TWONN_DISCARD = 0.1


def _distances(sims: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(2.0 - 2.0 * sims.astype(np.float64), 0.0, None))


def twonn(sims: np.ndarray, discard: float = TWONN_DISCARD) -> float:
    """TwoNN of Facco, d'Errico, Rodriguez & Laio, "Estimating the intrinsic dimension of datasets
    by a minimal neighborhood information" (Sci. Rep. 2017): with mu = r2 / r1, fit
    ``-log(1 - F(mu)) = d log(mu)`` through the origin on the empirical distribution F, leaving
    out the ``discard`` share of largest mu (their 10%). ``sims``: (m, >= 2) neighbour cosines,
    descending, from :func:`cosine_knn`."""
    r = _distances(sims[:, :2])
    keep = r[:, 0] > 0
    mu = np.sort(r[keep, 1] / r[keep, 0])
    n = len(mu)
    if n < 3:
        return float("nan")
    f = np.arange(1, n + 1) / n
    used = int(np.floor(n * (1 - discard)))
    x, y = np.log(mu[:used]), -np.log(1 - f[:used])
    denom = float(x @ x)
    return float(x @ y / denom) if denom > 0 else float("nan")


def mle_levina_bickel(sims: np.ndarray) -> float:
    """Maximum-likelihood estimate of Levina & Bickel, "Maximum likelihood estimation of
    intrinsic dimension" (NeurIPS 2004), Eq. 8 with k = the number of columns of ``sims``:
    ``m_k(x) = [(1/(k-1)) sum_j log(T_k / T_j)]^-1`` averaged over the rows, as in the paper
    (not MacKay & Ghahramani's average of inverses)."""
    t = _distances(sims)
    t = t[t[:, 0] > 0]
    k = t.shape[1]
    if k < 3 or len(t) == 0:
        return float("nan")
    logs = np.log(t[:, -1:] / t[:, :-1]).sum(axis=1) / (k - 1)
    logs = logs[logs > 0]
    return float(np.mean(1.0 / logs)) if len(logs) else float("nan")


def intrinsic_dimension(x: np.ndarray, k: int = 10) -> dict[str, float]:
    """Both estimates over all rows of ``x`` (exact kNN, O(n^2))."""
    _, sims = cosine_knn(unit_rows(x, precise=True), max(k, 2))
    return {"twonn": twonn(sims), "mle": mle_levina_bickel(sims)}
