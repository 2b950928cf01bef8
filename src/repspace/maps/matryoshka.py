"""The Matryoshka-Adaptor (Yoon, Sinha, Arık & Pfister 2024, "Matryoshka-Adaptor: Unsupervised
and Supervised Tuning for Smaller Embedding Dimensions").

A small MLP with a skip connection, ``f(e) = e + W2 relu(W1 e + b1) + b2``, trained on frozen
corpus embeddings so that every prefix ``f(e)[:m]`` keeps the corpus' similarity structure:

- pairwise similarity loss ``L_pair = Σ_m Σ_ij |cos(e_i, e_j) - cos(f(e_i)[:m], f(e_j)[:m])|``;
- top-k similarity loss ``L_topk``: the same over each row's k most similar rows only;
- reconstruction regularizer ``L_rec = Σ_i |f(e_i) - e_i|``;

unsupervised loss ``L_topk + alpha L_pair + beta L_rec``. With (query, positive) pairs, a second
stage adds the ranking loss ``L_rank = Σ_m Σ_i Σ_{k≠i} log(1 + exp(s_ik[:m] - s_ii[:m]))`` (a
query's positive against the other positives of the batch, the paper's pairwise ranking loss
with binary relevance): ``L_rank + L_topk + alpha L_pair + beta L_rec``.

Where this implementation deviates or chooses (the paper leaves these open):

- The losses are means (not sums) over the pairs of a random batch of ``batch_size`` rows,
  and over the prefixes ``dims`` (default: powers of two from 16 below the dimension, and the
  dimension itself); ``L_topk`` uses each row's top k within its batch, not within the whole
  corpus (exact corpus kNN costs O(n²) per fit; the whole corpus is one batch when
  ``n <= batch_size``).
- ``rotate=True`` (default) first applies a fixed orthogonal rotation onto the eigenvectors of
  the uncentred second-moment matrix. A rotation preserves every full-dimension cosine, so the
  adaptor's function class is unchanged, but its prefixes start at the best linear (uncentred
  PCA) truncation instead of the raw coordinates; the MLP then learns the rest. ``rotate=False``
  is the paper's plain ``f``.
- Each step takes a random batch of ``batch_size`` rows; its first ``anchors`` rows are compared
  with all rows of the batch (the anchors × batch similarity matrices), which keeps a step
  cheap on large corpora.
- Defaults (the paper gives no values): ``alpha=16``, ``beta=0.1``, 400 Adam steps at lr 1e-3,
  hidden width = dimension. ``alpha`` was chosen among 0.5–16 by a label-free criterion, the
  recall@10 of full-dimension neighbours at 32–256 dims on the benchmark corpora' own vectors
  (higher alpha kept more neighbours), never by the tasks' queries.
- Torch on CPU, seeded, deterministic algorithms, ``threads`` intra-op threads (default 1: on
  a shared machine extra OpenMP threads spin and slowed steps several-fold); Adam.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.maps.base import Map, check_finite
from repspace.maps.truncate import check_dim
from repspace.progress import progress_bar


def default_prefixes(dim: int) -> tuple[int, ...]:
    """Powers of two from 16 below ``dim``, and ``dim``."""
    out, m = [], 16
    while m < dim:
        out.append(m)
        m *= 2
    return (*out, dim)


class MatryoshkaAdaptor(Map):
    """Post-hoc Matryoshka property for any frozen embedding (see the module docstring).

    ``dim``: output prefix length (None: all dimensions; every prefix is meant to be usable).
    ``dims``: the prefixes summed in the losses. ``hidden``: MLP width (default: the input
    dimension). ``k``: neighbours of the top-k loss. ``alpha``/``beta``: weights of the pairwise
    and reconstruction losses. ``steps``/``supervised_steps``: Adam steps of each stage.
    """

    kind = "matryoshka"

    def __init__(
        self,
        dim: int | None = None,
        dims: Sequence[int] | None = None,
        hidden: int | None = None,
        k: int = 10,
        alpha: float = 16.0,
        beta: float = 0.1,
        rotate: bool = True,
        steps: int = 400,
        supervised_steps: int = 200,
        batch_size: int = 1024,
        anchors: int = 256,
        lr: float = 1e-3,
        seed: int = 0,
        threads: int = 1,
    ):
        self.dim = dim
        self.dims = dims
        self.hidden = hidden
        self.k = k
        self.alpha = alpha
        self.beta = beta
        self.rotate = rotate
        self.steps = steps
        self.supervised_steps = supervised_steps
        self.batch_size = batch_size
        self.anchors = anchors
        self.lr = lr
        self.seed = seed
        self.threads = threads

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        if params["dims"] is not None:
            params["dims"] = [int(m) for m in params["dims"]]
        return params

    # ----------------------------------------------------------------- fitting
    def _prefixes(self) -> list[int]:
        d = self.input_dim_
        dims = sorted({int(m) for m in (self.dims or default_prefixes(d))})
        for m in dims:
            check_dim(m, d)
        return dims

    def _fit(
        self, X: np.ndarray, pairs: tuple[Any, Any] | None = None, progress: bool = False
    ) -> None:
        """``pairs``: (query vectors, positive vectors) for the supervised stage; ``progress``:
        show a progress bar."""
        import torch

        d = self.input_dim_
        if self.dim is not None:
            check_dim(self.dim, d)
        prefixes = self._prefixes()
        if len(X) < 2:
            raise RepspaceError("the adaptor needs at least 2 corpus vectors")
        x = np.array(X, dtype=np.float32)  # a writable copy for torch
        if pairs is not None:
            queries, positives = (np.asarray(p, dtype=np.float32) for p in pairs)
            if queries.shape != positives.shape or queries.ndim != 2 or queries.shape[1] != d:
                raise RepspaceError(
                    f"pairs must be two ({len(queries)}, {d}) arrays of query and positive "
                    f"vectors, got {queries.shape} and {positives.shape}"
                )
            check_finite(queries, "query vectors")
            check_finite(positives, "positive vectors")
        if self.rotate:
            second = (x.astype(np.float64).T @ x.astype(np.float64)) / len(x)
            from repspace.metrics.linalg import eigh

            values, vectors = eigh(second)
            rotation = vectors[:, np.argsort(values)[::-1]].T
            signs = np.sign(rotation[np.arange(d), np.abs(rotation).argmax(axis=1)])
            self.rotation_ = (rotation * np.where(signs == 0, 1, signs)[:, None]).astype(np.float32)
        hidden = int(self.hidden or d)

        old_threads = torch.get_num_threads()
        old_det = torch.are_deterministic_algorithms_enabled()
        torch.set_num_threads(max(1, int(self.threads)))
        torch.use_deterministic_algorithms(True)
        try:
            torch.manual_seed(self.seed)
            gen = torch.Generator().manual_seed(self.seed)
            lin1 = torch.nn.Linear(d, hidden)
            lin2 = torch.nn.Linear(hidden, d)
            torch.nn.init.zeros_(lin2.weight)
            torch.nn.init.zeros_(lin2.bias)
            rot = torch.from_numpy(self.rotation_) if self.rotate else None
            data = torch.from_numpy(x)
            if rot is not None:
                data = data @ rot.T

            def adapt(z: torch.Tensor) -> torch.Tensor:
                return z + lin2(torch.relu(lin1(z)))

            params = [*lin1.parameters(), *lin2.parameters()]
            opt = torch.optim.Adam(params, lr=self.lr)
            total = self.steps + (self.supervised_steps if pairs is not None else 0)
            losses: list[float] = []
            with progress_bar("fitting adaptor", total, "steps", progress) as bar:
                for _ in range(self.steps):
                    batch = _batch(data, self.batch_size, gen)
                    loss = self._unsupervised_loss(batch, adapt(batch), prefixes)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    losses.append(float(loss.detach()))
                    bar.advance()
                if pairs is not None:
                    q = torch.from_numpy(queries)
                    p = torch.from_numpy(positives)
                    if rot is not None:
                        q, p = q @ rot.T, p @ rot.T
                    for _ in range(self.supervised_steps):
                        batch = _batch(data, self.batch_size, gen)
                        loss = self._unsupervised_loss(batch, adapt(batch), prefixes)
                        idx = torch.randperm(len(q), generator=gen)[: self.batch_size]
                        loss = loss + _rank_loss(adapt(q[idx]), adapt(p[idx]), prefixes)
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                        losses.append(float(loss.detach()))
                        bar.advance()
        finally:
            torch.use_deterministic_algorithms(old_det)
            torch.set_num_threads(old_threads)
        self.weight1_ = lin1.weight.detach().numpy().copy()
        self.bias1_ = lin1.bias.detach().numpy().copy()
        self.weight2_ = lin2.weight.detach().numpy().copy()
        self.bias2_ = lin2.bias.detach().numpy().copy()
        self.final_loss_ = losses[-1] if losses else None
        self.supervised_ = pairs is not None

    def _unsupervised_loss(self, x: Any, y: Any, prefixes: list[int]) -> Any:
        """The losses for the first ``anchors`` rows of the batch against all its rows."""
        import torch

        n = len(x)
        a = min(self.anchors, n)
        xn = torch.nn.functional.normalize(x, dim=1)
        target = xn[:a] @ xn.T
        # Pair weights as dense masks: elementwise products keep the backward pass cheap (boolean
        # indexing and gather back-propagate through slow deterministic scatter kernels).
        off = 1.0 - torch.eye(a, n)
        k = min(self.k, n - 1)
        top = (target - 3.0 * torch.eye(a, n)).topk(k, dim=1).indices
        near = torch.zeros(a, n).scatter_(1, top, 1.0)
        pair_loss = topk_loss = 0.0
        # Prefix dot products and squared norms accumulate block by block: one pass over the
        # dimensions for all prefixes.
        dots = torch.zeros(a, n)
        sq_a, sq_b = torch.zeros(a), torch.zeros(n)
        prev = 0
        for m in prefixes:
            ya, yb = y[:a, prev:m], y[:, prev:m]
            dots = dots + ya @ yb.T
            sq_a = sq_a + (ya * ya).sum(dim=1)
            sq_b = sq_b + (yb * yb).sum(dim=1)
            prev = m
            inv = torch.rsqrt(sq_a.clamp_min(1e-12))[:, None] * torch.rsqrt(sq_b.clamp_min(1e-12))
            diff = (dots * inv - target).abs()
            pair_loss = pair_loss + (diff * off).sum() / off.sum()
            topk_loss = topk_loss + (diff * near).sum() / near.sum()
        rec = (y - x).abs().mean()
        return (topk_loss + self.alpha * pair_loss) / len(prefixes) + self.beta * rec

    # ----------------------------------------------------------------- transform
    def _output_dim(self) -> int:
        return int(self.dim or self.input_dim_)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        z = np.asarray(X, dtype=np.float32)
        rotation = getattr(self, "rotation_", None)
        if rotation is not None:
            z = z @ rotation.T
        h = np.maximum(z @ self.weight1_.T + self.bias1_, 0)
        y = z + h @ self.weight2_.T + self.bias2_
        return np.ascontiguousarray(y[:, : self._output_dim()], dtype=np.float32)

    def affine_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """Two dense layers: ``relu([W1 R; R; -R] x + [b1; 0; 0])``, then ``[W2 I -I]`` (rows
        cut to ``dim``): the skip connection passes through ReLU as ``relu(z) - relu(-z) = z``,
        so built-in ``Dense`` modules reproduce the adaptor exactly."""
        self._check_fitted()
        d, out = self.input_dim_, self._output_dim()
        rotation = getattr(self, "rotation_", None)
        r = rotation if rotation is not None else np.eye(d, dtype=np.float32)
        w1 = np.concatenate([self.weight1_ @ r, r, -r]).astype(np.float32)
        b1 = np.concatenate([self.bias1_, np.zeros(2 * d, dtype=np.float32)])
        eye = np.eye(d, dtype=np.float32)
        w2 = np.concatenate([self.weight2_, eye, -eye], axis=1)[:out]
        b2 = self.bias2_[:out].astype(np.float32)
        return [(w1, b1.astype(np.float32), "relu"), (w2.astype(np.float32), b2, "identity")]


def _batch(data: Any, size: int, gen: Any) -> Any:
    import torch

    # A fresh random order every step, also when the whole corpus fits: the first rows of a
    # batch are its anchors.
    return data[torch.randperm(len(data), generator=gen)[:size]]


def _rank_loss(q: Any, p: Any, prefixes: list[int]) -> Any:
    """Mean of log(1 + exp(s_ik - s_ii)) over a query i's in-batch negatives k, per prefix."""
    import torch

    n = len(q)
    if n < 2:
        return q.sum() * 0
    off = 1.0 - torch.eye(n)
    loss = 0.0
    for m in prefixes:
        qm = torch.nn.functional.normalize(q[:, :m], dim=1)
        pm = torch.nn.functional.normalize(p[:, :m], dim=1)
        s = qm @ pm.T
        delta = s - s.diagonal()[:, None]
        loss = loss + (torch.nn.functional.softplus(delta) * off).sum() / off.sum()
    return loss / len(prefixes)
