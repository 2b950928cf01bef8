"""Measure spaces: intrinsic metrics of one space (:func:`inspect`) and similarity between
spaces (:func:`compare`).

Each metric lives in the module of its concept and takes ``(n, dim)`` arrays (row-aligned
pairs of arrays for comparisons), e.g. ``repspace.metrics.spectrum.rankme(x)``,
``repspace.metrics.cka.linear_cka(x, y)``: ``spectrum`` (RankMe, IsoScore, PCA shares, von
Neumann entropy), ``anisotropy``, ``hubness``, ``uniformity``, ``intrinsic_dim``,
``duplicates``, ``norms``, ``cka``, ``mutual_knn``, ``svcca``, ``rsa``, ``procrustes``.
:func:`~repspace.metrics.inspection.inspect` and :func:`~repspace.metrics.comparison.compare`
take spaces, directories or arrays and return an ``InspectResult`` / ``CompareResult``
(``to_dict()``: the ``--json`` output).
"""
