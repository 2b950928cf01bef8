"""Data selection: DSIR (Xie et al. 2023, "Data Selection for Language Models via Importance
Resampling") over a pool on disk, in hashed n-gram or embedding feature space.

One module per concept: :mod:`~repspace.select.features` (hashed n-grams),
:mod:`~repspace.select.weights` (bags of n-grams, log importance weights, KL reduction),
:mod:`~repspace.select.density` (density ratio for embedding features),
:mod:`~repspace.select.resample` (seeded Gumbel top-k), :mod:`~repspace.select.dedup`
(exact, MinHash LSH, cosine), :mod:`~repspace.select.parallel` (chunks on local cores),
:mod:`~repspace.select.pipeline` (the passes, the output directory),
:mod:`~repspace.select.report` (the HTML report).
"""

from repspace.select.pipeline import SelectResult, select

__all__ = ["SelectResult", "select"]
