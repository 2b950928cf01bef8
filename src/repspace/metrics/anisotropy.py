"""Anisotropy: do the vectors fill the space or sit in a narrow cone along a few directions?

Ethayarajh, "How contextual are contextualized word representations?" (EMNLP 2019) measures it as
the expected cosine between random pairs; Timkey & van Schijndel, "All bark and no bite: rogue
dimensions in transformer language models obscure representational quality" (EMNLP 2021) split
that expectation into per-dimension contributions and find that one to three "rogue" dimensions
dominate it. Both are computed here exactly over all pairs of distinct rows, from column sums of
the normalized rows (O(n·dim), no sampling).
"""

from __future__ import annotations

import numpy as np

from repspace.metrics.moments import Moments, moments


def _moments(x: np.ndarray | Moments) -> Moments:
    return x if isinstance(x, Moments) else moments(x, gram=False, unit_gram=False)


def dimension_cosine_contributions(x: np.ndarray | Moments) -> np.ndarray:
    """Per dimension i, the mean over pairs of distinct rows of ``u_i v_i`` (u, v normalized):
    Timkey & van Schijndel's contribution to the expected cosine. Sums to :func:`mean_cosine`."""
    m = _moments(x)
    return (m.unit_total**2 - m.unit_squares) / (m.n * (m.n - 1))


def mean_cosine(x: np.ndarray | Moments) -> float:
    """Mean cosine similarity over all pairs of distinct rows, exactly:
    ``(||sum u||^2 - sum ||u||^2) / (n (n - 1))``."""
    return float(dimension_cosine_contributions(x).sum())


def rogue_dimensions(x: np.ndarray | Moments, count: int = 5) -> list[dict[str, float]]:
    """The ``count`` dimensions contributing most to the mean cosine, each with its contribution
    and its share of the mean cosine (shares are unstable when the mean cosine is near 0)."""
    contrib = dimension_cosine_contributions(x)
    total = contrib.sum()
    order = np.argsort(-contrib, kind="stable")[:count]
    return [
        {
            "dim": int(i),
            "contribution": float(contrib[i]),
            "share": float(contrib[i] / total) if total != 0 else float("nan"),
        }
        for i in order
    ]


def top_dimensions_share(x: np.ndarray | Moments, count: int = 3) -> float:
    """Share of the mean cosine contributed by the ``count`` largest contributors (Timkey & van
    Schijndel report 1 to 3 rogue dimensions); NaN when the mean cosine is below 0.01 in absolute
    value, where the share means nothing."""
    contrib = dimension_cosine_contributions(x)
    total = contrib.sum()
    if abs(total) < 0.01:
        return float("nan")
    return float(np.sort(contrib)[::-1][:count].sum() / total)
