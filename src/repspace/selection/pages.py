"""The HTML report of a selection (``report.html``), built from ``report.json`` with
:mod:`repspace.report`: what was read and dropped, the KL reduction against random selection,
the histogram of log importance weights, the most and least target-like pool documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repspace.report import Report, figure, histogram, table


def write_html(path: str | Path, r: dict[str, Any]) -> Path:
    p, pool, kl = r["params"], r["pool"], r["kl"]
    rep = Report(
        "Data selection (DSIR)",
        f"{r['selected']:,} of {pool['candidates']:,} candidate pool documents, "
        f"features {p['features']}, seed {p['seed']}",
    )
    dups = pool["duplicates"]
    rep.add(
        "Input",
        table(
            ["", "value"],
            [
                ["target documents", r["target"]["documents"]],
                ["pool documents read", pool["documents"]],
                ["bad records skipped (pool)", sum(pool["skipped"].values())],
                ["exact duplicates dropped", dups["exact"]],
                ["near duplicates dropped", dups["near"]],
                ["shorter than --min-tokens", pool["too_short"]],
                ["candidates", pool["candidates"]],
                ["selected (k)", r["selected"]],
            ],
            numeric=[1],
        ),
        note=f"dedup: {p['dedup']}; pool sha256 {str(pool.get('hash', ''))[:16]}…",
    )
    rows = [
        ["KL(target ‖ random selection)", kl["kl_target_random"]],
        ["KL(target ‖ DSIR selection)", kl["kl_target_selected"]],
        ["KL reduction", kl["kl_reduction"]],
    ]
    if "kl_target_pool" in kl:
        rows.append(["KL(target ‖ whole pool)", kl["kl_target_pool"]])
    note = (
        "Xie et al. 2023, §6: KL divergence from the target's hashed n-gram distribution "
        "(10,000 buckets, smoothed by 1e-8) to a random selection of the same size, minus that "
        "to the selection. Larger is better; the paper finds it tracks downstream accuracy."
    )
    if kl["kl_reduction"] < 0:
        note += (
            " Here it is negative: the selection is farther from the target than random data. "
            "The target's n-grams are rare in the pool, and as log weights add up over a "
            "document's n-grams, short documents win; a higher --min-tokens (default 100, the "
            "reference package's) or space: features may help."
        )
    rep.add("KL reduction", table(["", "nats"], rows, numeric=[1]), note=note)
    h = r["log_weights"]["histogram"]
    rep.add(
        "Log importance weights",
        figure(
            histogram(
                counts=h["counts"],
                edges=h["edges"],
                x_label="log importance weight",
                y_label="documents",
                log_y=True,
            ),
            "Candidates' log p_target(x) − log p_pool(x); selection adds Gumbel noise and keeps "
            "the k largest.",
        ),
    )
    for key, title in (
        ("most_target_like", "Most target-like pool documents"),
        ("least_target_like", "Least target-like pool documents"),
    ):
        rep.add(
            title,
            table(
                ["id", "log weight", "text"],
                [[e["id"], e["log_weight"], e["text"][:300]] for e in r["examples"][key]],
                numeric=[1],
            ),
        )
    return rep.save(path)


__all__ = ["write_html"]
