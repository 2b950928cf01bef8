"""What each metric means: label, one-line explanation, what good looks like, and the paper.

The CLI tables and the HTML reports read these, so a metric is explained the same way
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    label: str
    what: str
    good: str
    source: str


INSPECT: dict[str, Metric] = {
    "rankme": Metric(
        "RankMe (effective rank)",
        "exp of the entropy of the normalized singular values: how many dimensions the "
        "vectors really use.",
        "Higher is better, up to the dimension; far below it means collapsed directions.",
        "Garrido et al., ICML 2023",
    ),
    "isoscore": Metric(
        "IsoScore",
        "How evenly variance spreads over the principal axes (0: one axis, 1: isotropic).",
        "Higher is more isotropic; trained encoders sit well below 1, so compare spaces.",
        "Rudman et al., Findings of ACL 2022",
    ),
    "mean_cosine": Metric(
        "Mean pairwise cosine",
        "Average cosine between two different vectors (anisotropy), exact over all pairs.",
        "Near 0 is ideal; high values mean a narrow cone, so raw cosines are compressed.",
        "Ethayarajh, EMNLP 2019",
    ),
    "pc1_variance_share": Metric(
        "Variance share, top-1 PC",
        "Share of the variance along the first principal component.",
        "Small (1/dim for isotropic data); a large share means one direction dominates.",
        "PCA",
    ),
    "pc10_variance_share": Metric(
        "Variance share, top-10 PCs",
        "Share of the variance along the ten leading principal components.",
        "Small relative to dim; near 1 means the space is effectively ~10-dimensional.",
        "PCA",
    ),
    "top3_dims_cosine_share": Metric(
        "Rogue dimensions (top-3 share)",
        "Share of the mean cosine contributed by the 3 largest-contributing dimensions.",
        "Low; near 1 means a few rogue dimensions decide cosine similarity.",
        "Timkey & van Schijndel, EMNLP 2021",
    ),
    "hubness_skewness": Metric(
        "Hubness (k-occurrence skewness)",
        "Skewness of how often each point is among others' 10 nearest neighbours.",
        "Near 0 is good; above ~1 some hubs crowd many neighbour lists.",
        "Radovanović et al., JMLR 2010",
    ),
    "antihub_share": Metric(
        "Anti-hub share",
        "Share of points that are nobody's 10-nearest neighbour (unreachable in search).",
        "Low; a high share means many documents are never retrieved.",
        "Radovanović et al., JMLR 2010",
    ),
    "hub_share": Metric(
        "Hub share",
        "Share of points in more than 2k = 20 neighbour lists.",
        "Low (a few %); hubs appear as false neighbours of many queries.",
        "scikit-hubness convention",
    ),
    "uniformity": Metric(
        "Uniformity",
        "log E exp(-2 ||u - v||^2) over pairs of normalized vectors.",
        "Lower is more uniform: about -4 on a high-dimensional sphere, 0 when collapsed.",
        "Wang & Isola, ICML 2020",
    ),
    "alignment": Metric(
        "Alignment (positive pairs)",
        "Mean squared distance between normalized vectors of the given positive pairs.",
        "Lower is better (0 = pairs coincide; 2 = unrelated on average).",
        "Wang & Isola, ICML 2020",
    ),
    "intrinsic_dim_twonn": Metric(
        "Intrinsic dimension (TwoNN)",
        "Local degrees of freedom from the ratio of 2nd to 1st neighbour distances.",
        "Informative, not better/worse: far below RankMe suggests a curved, low-dim manifold.",
        "Facco et al., Sci. Rep. 2017",
    ),
    "intrinsic_dim_mle": Metric(
        "Intrinsic dimension (MLE, k=10)",
        "Levina–Bickel maximum-likelihood estimate from the 10 nearest neighbours.",
        "Compare with TwoNN; both far below dim is typical for text embeddings.",
        "Levina & Bickel, NeurIPS 2004",
    ),
    "von_neumann_entropy": Metric(
        "Von Neumann entropy (nats)",
        "Entropy of the density matrix of the normalized vectors' eigenvalues.",
        "Higher means information over more directions; at most log(dim).",
        "Zhang et al. 2023 (matrix entropy)",
    ),
    "von_neumann_entropy_normalized": Metric(
        "Von Neumann entropy / log(dim)",
        "The entropy above divided by its maximum.",
        "Closer to 1 is more spread out.",
        "Zhang et al. 2023 (matrix entropy)",
    ),
    "norm_mean": Metric(
        "Mean norm",
        "Average L2 norm of the vectors.",
        "1 for normalized encoders; otherwise only meaningful relative to its spread.",
        "",
    ),
    "norm_cv": Metric(
        "Norm spread (std / mean)",
        "Coefficient of variation of the L2 norms.",
        "0 for unit vectors; large values mean norms carry information cosine discards.",
        "",
    ),
    "exact_duplicate_share": Metric(
        "Exact duplicates",
        "Share of vectors that are bit-for-bit copies of an earlier one.",
        "0 unless the corpus has duplicate texts; duplicates skew search and evaluation.",
        "",
    ),
    "near_duplicate_share": Metric(
        "Near-duplicates (cos >= 0.98)",
        "Share of vectors with another vector at cosine >= 0.98 (exact copies included).",
        "Low; a high share means redundant documents.",
        "",
    ),
}

COMPARE: dict[str, Metric] = {
    "linear_cka": Metric(
        "Linear CKA",
        "Centered kernel alignment with a linear kernel, exact over all shared rows.",
        "1 = same geometry up to rotation and scale; 0 = unrelated.",
        "Kornblith et al., ICML 2019",
    ),
    "linear_cka_debiased": Metric(
        "Linear CKA (debiased)",
        "Linear CKA with the unbiased HSIC estimator, less inflated when n is small vs dim.",
        "As linear CKA; trust it over the biased one when rows are few.",
        "Kornblith et al. 2019; Song et al. 2012",
    ),
    "rbf_cka": Metric(
        "RBF CKA",
        "CKA with a Gaussian kernel (bandwidth = median distance): local structure too.",
        "1 = same geometry; 0 = unrelated.",
        "Kornblith et al., ICML 2019",
    ),
    "rbf_cka_debiased": Metric(
        "RBF CKA (debiased)",
        "RBF CKA with the unbiased HSIC estimator.",
        "As RBF CKA.",
        "Kornblith et al. 2019; Song et al. 2012",
    ),
    "mutual_knn": Metric(
        "Mutual kNN (k=10)",
        "Average share of a point's 10 nearest neighbours that are the same in both spaces.",
        "1 = same neighbourhoods; chance is about k / rows.",
        "Huh et al., ICML 2024",
    ),
    "svcca": Metric(
        "SVCCA",
        "Mean canonical correlation after keeping the directions that explain 99% variance.",
        "1 = one space is a linear map of the other (on the kept directions).",
        "Raghu et al., NeurIPS 2017",
    ),
    "rsa": Metric(
        "RSA",
        "Spearman correlation of the two cosine-distance matrices.",
        "1 = same ranking of all pairwise distances; 0 = unrelated.",
        "Kriegeskorte et al. 2008",
    ),
    "procrustes_residual": Metric(
        "Procrustes residual",
        "Squared error left after the best rotation between the normalized centred spaces.",
        "0 = identical up to rotation and scale; 2 = as far apart as possible.",
        "Ding et al., NeurIPS 2021",
    ),
}
