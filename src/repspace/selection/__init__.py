"""Data selection: DSIR (Xie et al. 2023, "Data Selection for Language Models via Importance
Resampling") over a pool on disk, in hashed n-gram or embedding feature space.

One module per concept: :mod:`~repspace.selection.features` (hashed n-grams),
:mod:`~repspace.selection.weights` (bags of n-grams, log importance weights, KL reduction),
:mod:`~repspace.selection.density` (density ratio for embedding features),
:mod:`~repspace.selection.resample` (seeded Gumbel top-k), :mod:`~repspace.selection.dedup`
(exact, MinHash LSH, cosine), :mod:`~repspace.engines.local` (chunks on local cores),
:mod:`~repspace.selection.pipeline` (the passes, the output directory),
:mod:`~repspace.selection.pages` (the HTML report).
"""

from repspace.selection.pipeline import SelectResult, select

__all__ = ["SelectResult", "select"]
