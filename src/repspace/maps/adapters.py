"""Drift-Adapter maps (Vejendla 2025, "Drift-Adapter: A Practical Approach to Near Zero-Downtime
Embedding Model Upgrades in Vector Databases", EMNLP): NEW→OLD maps fitted on paired old/new
embeddings, so that queries of an upgraded model search the index of the old one. The paper
compares three parameterisations: orthogonal Procrustes (:class:`repspace.maps.aligners.
Procrustes`), a low-rank affine map and a compact residual MLP (the best of the three in its
text experiments), both with an optional diagonal scaling of the output, trained with a mean
squared error on 80% of the pairs (20% held out).

What the paper leaves open, and what is chosen here (its method section was read through
secondary sources; these choices are measured in ``bench/results/align.json``):

- Different dimensions. The paper's adapters keep the dimension (``x + U V^T x``, ``x +
  MLP(x)``); an upgrade changes it (MiniLM 384 → mpnet 768). The skip connection is therefore
  the orthogonal Procrustes map (zero-padded, :class:`~repspace.maps.aligners.Procrustes`), the
  dimension-changing generalisation of the identity, and both adapters learn what it misses.
- :class:`LowRankAffine` ``x -> x W0 + (x - mu) B_r + c``: ``W0`` the Procrustes map, ``B_r`` of
  rank ``r``. Fitted in closed form instead of by gradient descent: reduced-rank ridge regression
  (Izenman 1975; Mukherjee & Zhu 2011) of the residual ``y - x W0`` is the exact minimiser of
  the paper's squared error over rank-``r`` maps (plus a ridge penalty). The rank and the ridge
  strength are chosen by the mean cosine on the held-out 20% (``rank=None``), then refitted on
  all pairs. No diagonal scaling: the scaled map is still affine, so least squares over affine
  maps already contains it. An affine map: it exports as one dense layer.
- :class:`ResidualMLP` ``x -> s * (x W + b + W2 gelu(x W1 + b1) + b2)``: one hidden layer of
  ``hidden`` (256) GELU units, the skip ``x W + b`` initialised at the Procrustes map plus the
  mean offset (fitted on the training split) and trained with the rest, the last layer starting
  at zero (so training starts from the skip alone), ``s`` the diagonal scaling (starting at 1).
  Adam (lr 1e-3, batches of 256), early stopping on the held-out pairs' loss (patience
  ``patience`` epochs, best weights kept); torch on CPU, seeded, deterministic. The paper gives
  no optimiser, learning rate, batch size or epochs; these are ours. ``loss="mse"`` is the
  paper's objective; ``loss="infonce"`` (preset ``residual-mlp-infonce``, our addition) is the
  in-batch InfoNCE of mapped NEW against OLD vectors (temperature 0.05), which asks for what
  retrieval needs (a mapped vector nearer its own OLD partner than the others) instead of
  coordinates. Measured MiniLM -> mpnet with 10% of the documents and 20k generic pairs
  (``bench/results/align.json``): neither objective beats Procrustes by much; with a model2vec
  OLD, InfoNCE does. ``fit(X, y, init=MAP)`` starts from a fitted affine map or residual MLP
  instead (a bridge refined on a user's sample). Not affine, so it does not export;
  ``transform`` runs in numpy (no torch at query time).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.kernels import unit_rows
from repspace.maps.aligners import Procrustes, _Aligner, _f64
from repspace.maps.base import AffineMap, torch_fitting

#: Rank candidates of :class:`LowRankAffine` (capped at the smaller dimension, which is added).
RANKS = (0, 8, 16, 32, 64, 128, 256)
#: :class:`ResidualMLP` objectives: the paper's mean squared error, or in-batch InfoNCE.
LOSSES = ("mse", "infonce")
#: Ridge strengths, relative to the mean eigenvalue of the source covariance.
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0)


def _split(n: int, validation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, held-out) row indices; ``validation`` is the held-out share."""
    perm = np.random.default_rng(seed).permutation(n)
    k = max(1, round(validation * n))
    return np.sort(perm[k:]), np.sort(perm[:k])


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((unit_rows(a) * unit_rows(b)).sum(1).mean())


class _ReducedRankRidge:
    """Ridge regression of ``R`` on centred ``X`` and its reduced-rank projections: for each
    ``alpha``, the rank-``r`` coefficient ``B V_r V_r^T``, ``V_r`` the top eigenvectors of
    ``B^T (X^T X + lambda I) B`` (Mukherjee & Zhu 2011)."""

    def __init__(self, X: np.ndarray, R: np.ndarray):
        self.mx, self.mr = X.mean(0), R.mean(0)
        Xc = X - self.mx
        self.cov = Xc.T @ Xc
        self.evals, self.evecs = np.linalg.eigh(self.cov)
        self.cross = self.evecs.T @ (Xc.T @ (R - self.mr))
        self.scale = max(float(np.trace(self.cov)) / len(self.cov), 1e-12)

    def coefficients(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """The full-rank ridge coefficient and the eigenvectors that rank-reduce it (best
        first)."""
        lam = alpha * self.scale
        B = self.evecs @ (self.cross / (self.evals + lam)[:, None])
        M = B.T @ (self.cov @ B) + lam * (B.T @ B)
        w, v = np.linalg.eigh(M)
        return B, v[:, np.argsort(w)[::-1]]

    def intercept(self, B: np.ndarray) -> np.ndarray:
        return self.mr - self.mx @ B


def _ranks(rank: int | None, dx: int, dy: int) -> list[int]:
    top = min(dx, dy)
    if rank is not None:
        if not 0 <= rank <= top:
            raise RepspaceError(f"low-rank map: rank {rank} must be in 0..{top}")
        return [rank]
    return sorted({r for r in RANKS if r < top} | {top})


class LowRankAffine(_Aligner, AffineMap):
    """Drift-Adapter's low-rank affine map: Procrustes plus a rank-``rank`` affine correction,
    fitted in closed form; ``rank=None`` (default) picks rank and ridge strength on ``validation``
    of the pairs (see the module docstring)."""

    kind = "low-rank"
    min_anchors = 20

    def __init__(
        self,
        rank: int | None = None,
        alphas: tuple[float, ...] = ALPHAS,
        validation: float = 0.2,
        seed: int = 0,
    ):
        self.rank = rank
        self.alphas = alphas
        self.validation = validation
        self.seed = seed

    def _fit(self, X: np.ndarray, y: Any = None) -> None:
        X, Y = _f64(X), _f64(y)
        ranks = _ranks(self.rank, X.shape[1], Y.shape[1])
        r, a = ranks[0], self.alphas[0]
        scores: dict[str, float] = {}
        if len(ranks) * len(self.alphas) > 1:
            tr, va = _split(len(X), self.validation, self.seed)
            W0 = Procrustes().fit(X[tr], Y[tr]).weight_.astype(np.float64)
            rrr = _ReducedRankRidge(X[tr], Y[tr] - X[tr] @ W0)
            base = X[va] @ W0
            for alpha in self.alphas:
                B, V = rrr.coefficients(alpha)
                P = (X[va] - rrr.mx) @ B @ V  # held-out residual predictions, in V's basis
                for rank in ranks:
                    pred = base + rrr.mr + P[:, :rank] @ V[:, :rank].T
                    score = _mean_cosine(pred, Y[va])
                    if not scores or score > max(scores.values()):
                        r, a = rank, alpha
                    scores[f"rank={rank},alpha={alpha:g}"] = score
        W0 = Procrustes().fit(X, Y).weight_.astype(np.float64)
        rrr = _ReducedRankRidge(X, Y - X @ W0)
        B, V = rrr.coefficients(a)
        Br = B @ V[:, :r] @ V[:, :r].T
        self.weight_ = (W0 + Br).astype(np.float32)
        self.bias_ = rrr.intercept(Br).astype(np.float32)
        self.rank_ = int(r)
        self.alpha_ = float(a)
        self.validation_scores_ = scores


def _gelu(h: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * h * (1.0 + erf(h * np.float32(1 / math.sqrt(2))))


class ResidualMLP(_Aligner):
    """Drift-Adapter's residual MLP with diagonal scaling, trained with torch on CPU (see the
    module docstring); ``transform`` is numpy."""

    kind = "residual-mlp"
    min_anchors = 100

    def __init__(
        self,
        hidden: int = 256,
        loss: str = "mse",
        temperature: float = 0.05,
        lr: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 100,
        patience: int = 5,
        validation: float = 0.2,
        scale: bool = True,
        seed: int = 0,
        threads: int = 1,
    ):
        self.hidden = hidden
        self.loss = loss
        self.temperature = temperature
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation = validation
        self.scale = scale
        self.seed = seed
        self.threads = threads

    def _fit(self, X: np.ndarray, y: Any = None, init: Any = None) -> None:
        """``init``: a fitted map of the same dimensions to start from instead of the low-rank
        affine map (a bridge, refined on these pairs): a residual MLP (all its weights) or an
        affine map (the skip connection)."""
        import torch

        if self.loss not in LOSSES:
            raise RepspaceError(f"residual-mlp map: loss must be one of {', '.join(LOSSES)}")
        X32, Y32 = np.asarray(X, np.float32), np.asarray(y, np.float32)
        tr, va = _split(len(X32), self.validation, self.seed)
        if init is None:
            base: Any = LowRankAffine(rank=0, alphas=(1.0,)).fit(X32[tr], Y32[tr])
        else:
            base = init
            if (init.input_dim_, init.output_dim_) != (X32.shape[1], Y32.shape[1]):
                raise RepspaceError(
                    f"residual-mlp map: the map to start from maps {init.input_dim_} -> "
                    f"{init.output_dim_} dims, these pairs {X32.shape[1]} -> {Y32.shape[1]}"
                )
            if not hasattr(init, "weight_"):
                raise RepspaceError(
                    f"residual-mlp map: cannot start from a {init.kind} map (an affine map or a "
                    "residual MLP can be refined)"
                )
        with torch_fitting(self.threads, self.seed) as gen:
            dx, dy = X32.shape[1], Y32.shape[1]
            skip = torch.nn.Linear(dx, dy)
            hidden = base.hidden_weight_.shape[1] if isinstance(base, ResidualMLP) else self.hidden
            hid = torch.nn.Linear(dx, int(hidden))
            out = torch.nn.Linear(int(hidden), dy)
            s = torch.nn.Parameter(torch.ones(dy), requires_grad=bool(self.scale))
            with torch.no_grad():
                skip.weight.copy_(torch.from_numpy(base.weight_.T.copy()))
                skip.bias.copy_(torch.from_numpy(base.bias_))
                out.weight.zero_()
                out.bias.zero_()
                if isinstance(base, ResidualMLP):
                    for layer, w, b in (
                        (hid, base.hidden_weight_, base.hidden_bias_),
                        (out, base.out_weight_, base.out_bias_),
                    ):
                        layer.weight.copy_(torch.from_numpy(w.T.copy()))
                        layer.bias.copy_(torch.from_numpy(b))
                    s.copy_(torch.from_numpy(base.scale_))
            params = [*skip.parameters(), *hid.parameters(), *out.parameters()]
            params += [s] if self.scale else []

            def forward(x: torch.Tensor) -> torch.Tensor:
                return s * (skip(x) + out(torch.nn.functional.gelu(hid(x))))

            xt, yt = torch.from_numpy(X32[tr]), torch.from_numpy(Y32[tr])
            xv, yv = torch.from_numpy(X32[va]), torch.from_numpy(Y32[va])
            opt = torch.optim.Adam(params, lr=self.lr)
            F = torch.nn.functional

            def objective(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                if self.loss == "mse":
                    return F.mse_loss(forward(x), y)
                logits = F.normalize(forward(x), dim=1) @ F.normalize(y, dim=1).T
                return F.cross_entropy(logits / self.temperature, torch.arange(len(x)))

            def held() -> float:
                with torch.no_grad():
                    if self.loss == "mse":
                        return float(objective(xv, yv))
                    step = int(self.batch_size)  # InfoNCE over batches of the training size
                    parts = [
                        objective(xv[b : b + step], yv[b : b + step])
                        for b in range(0, len(xv), step)
                    ]
                    return float(torch.stack(parts).mean())

            best, best_epoch, history = held(), 0, []
            snapshot = [p.detach().clone() for p in params]
            for epoch in range(1, int(self.max_epochs) + 1):
                order = torch.randperm(len(xt), generator=gen)
                for b in range(0, len(xt), int(self.batch_size)):
                    idx = order[b : b + int(self.batch_size)]
                    opt.zero_grad()
                    objective(xt[idx], yt[idx]).backward()
                    opt.step()
                loss = held()
                history.append(round(loss, 8))
                if loss < best:
                    best, best_epoch = loss, epoch
                    snapshot = [p.detach().clone() for p in params]
                elif epoch - best_epoch >= self.patience:
                    break
            with torch.no_grad():
                for p, v in zip(params, snapshot, strict=True):
                    p.copy_(v)
            self.weight_ = skip.weight.detach().numpy().T.copy()
            self.bias_ = skip.bias.detach().numpy().copy()
            self.hidden_weight_ = hid.weight.detach().numpy().T.copy()
            self.hidden_bias_ = hid.bias.detach().numpy().copy()
            self.out_weight_ = out.weight.detach().numpy().T.copy()
            self.out_bias_ = out.bias.detach().numpy().copy()
            self.scale_ = s.detach().numpy().copy()
        self.best_epoch_ = int(best_epoch)
        self.validation_loss_ = history

    def _transform(self, X: np.ndarray) -> np.ndarray:
        x = np.asarray(X, dtype=np.float32)
        h = _gelu(x @ self.hidden_weight_ + self.hidden_bias_)
        return (x @ self.weight_ + self.bias_ + h @ self.out_weight_ + self.out_bias_) * self.scale_
