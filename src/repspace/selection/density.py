"""Density-ratio importance weights in an embedding space (``--features space:SPEC``).

DSIR's framework (Xie et al. 2023, §3) needs ``log p_target(x) / p_pool(x)`` in some feature
space; the paper uses bags of hashed n-grams. With encoder vectors there is no closed-form
likelihood, so the ratio is estimated by probabilistic classification (Sugiyama, Suzuki & Kanamori,
"Density Ratio Estimation in Machine Learning", 2012, ch. 4): an L2-regularized logistic
regression separates target vectors (label 1) from pool vectors (label 0), each class weighted
to half of the loss, so that its logit estimates the log density ratio directly (with unequal
class sizes the prior odds would otherwise be added to every logit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from repspace.errors import RepspaceError
from repspace.kernels import unit_rows


@dataclass(frozen=True)
class LogisticRatio:
    """``log p_target(x) / p_pool(x) ≈ x @ coef + intercept`` (x: the L2-normalized vector)."""

    coef: np.ndarray
    intercept: float
    train_accuracy: float

    def log_ratio(self, vectors: np.ndarray) -> np.ndarray:
        return unit_rows(vectors, dtype=np.float64) @ self.coef + self.intercept


def fit_logistic_ratio(target: np.ndarray, pool: np.ndarray, *, l2: float = 1e-3) -> LogisticRatio:
    """Fit the class-balanced logistic regression (L-BFGS) of target vs pool vectors."""
    if len(target) < 2 or len(pool) < 2:
        raise RepspaceError(
            f"space features need at least 2 target and 2 pool documents "
            f"(got {len(target)} and {len(pool)})"
        )
    x = np.vstack([unit_rows(target, dtype=np.float64), unit_rows(pool, dtype=np.float64)])
    y = np.concatenate([np.ones(len(target)), np.zeros(len(pool))])
    w = np.where(y == 1, 0.5 / len(target), 0.5 / len(pool))
    dim = x.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:dim] + theta[dim]
        # log(1 + e^z) - y z, stable
        nll = np.logaddexp(0.0, z) - y * z
        grad_z = w * (1.0 / (1.0 + np.exp(-z)) - y)
        value = float(w @ nll) + 0.5 * l2 * float(theta[:dim] @ theta[:dim])
        grad = np.concatenate([x.T @ grad_z + l2 * theta[:dim], [grad_z.sum()]])
        return value, grad

    res = minimize(loss, np.zeros(dim + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    coef, intercept = res.x[:dim], float(res.x[dim])
    pred = (x @ coef + intercept) > 0
    accuracy = float(np.sum(w * (pred == (y == 1))))
    return LogisticRatio(coef, intercept, accuracy)


__all__ = ["LogisticRatio", "fit_logistic_ratio"]
