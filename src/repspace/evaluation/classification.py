"""Classification tasks: JSONL ``{"text", "label"}`` (optionally ``"id"``), measured with
linear and kNN probes on frozen vectors as in MTEB (Muennighoff et al., 2023): here a
logistic-regression probe and a cosine kNN probe, stratified k-fold, accuracy and macro-F1.

Scoring: classification probes on frozen vectors, as in MTEB's classification tasks (Muennighoff et
al., "MTEB: Massive Text Embedding Benchmark", EACL 2023): a logistic-regression probe and a
cosine k-nearest-neighbour probe, scored by accuracy and macro-F1.

Deviation: MTEB trains on a fixed train split (undersampled to n examples per label); here the
labelled set is split by stratified k-fold (scikit-learn), every example is predicted once, and
the fold means are reported, so no separate train file is needed. The vectors are
L2-normalized first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.fsio import read_jsonl
from repspace.kernels import unit_rows


@dataclass
class ClassificationTask:
    """Texts with one label each."""

    name: str
    texts: list[str]
    labels: list[str]
    ids: list[str] | None = None
    path: Path | None = None

    kind = "classification"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path) if self.path else None,
            "examples": len(self.texts),
            "classes": dict(sorted(Counter(self.labels).items())),
        }


def load_classification_task(path: str | Path) -> ClassificationTask:
    """Read a classification JSONL file: a non-empty ``text`` and a ``label`` (string, integer
    or boolean, compared as strings) on every line; ``id`` on all lines or none."""
    path = Path(path)
    texts: list[str] = []
    labels: list[str] = []
    ids: list[str] = []
    has_ids: bool | None = None
    for lineno, obj in read_jsonl(path):
        text, label = obj.get("text"), obj.get("label")
        if not isinstance(text, str) or not text.strip():
            raise RepspaceError(f"{path}:{lineno}: field 'text' must be a non-empty string")
        if label is None or isinstance(label, list | dict) or label == "":
            raise RepspaceError(f"{path}:{lineno}: field 'label' must be a string or a number")
        if has_ids is None:
            has_ids = "id" in obj
        if ("id" in obj) != has_ids:
            raise RepspaceError(f"{path}:{lineno}: give 'id' on every line or on none")
        if "id" in obj:
            ids.append(str(obj["id"]))
        texts.append(text)
        labels.append(str(label))
    if not texts:
        raise RepspaceError(f"{path}: no examples")
    if len(set(labels)) < 2:
        raise RepspaceError(f"{path}: only one label ({labels[0]!r}); a probe needs two or more")
    if ids and len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise RepspaceError(f"{path}: duplicate id {dup!r}; ids must be unique")
    return ClassificationTask(path.stem, texts, labels, ids or None, path)


PROBE_METRICS = ("logreg_accuracy", "logreg_f1_macro", "knn_accuracy", "knn_f1_macro")


def probe_scores(
    vectors: np.ndarray,
    labels: Sequence[str],
    *,
    folds: int = 5,
    k: int = 10,
    seed: int = 0,
    max_iter: int = 1000,
) -> dict[str, float]:
    """Mean accuracy and macro-F1 over ``folds`` stratified folds of a logistic-regression probe
    (lbfgs, C = 1) and a kNN probe (``k`` neighbours by cosine, majority vote)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier

    if folds < 2:
        raise RepspaceError("--folds must be at least 2")
    y = np.asarray(labels)
    if len(y) != len(vectors):
        raise RepspaceError(f"probe: {len(vectors)} vectors for {len(y)} labels")
    counts = Counter(labels)
    if len(counts) < 2:
        raise RepspaceError("classification: a probe needs at least two labels")
    rare, n_rare = min(counts.items(), key=lambda kv: kv[1])
    if n_rare < folds:
        raise RepspaceError(
            f"classification: label {rare!r} has {n_rare} example(s); stratified {folds}-fold "
            f"needs at least {folds} per label (add examples, drop the label, or lower --folds)"
        )
    x = unit_rows(vectors, dtype=np.float64, what="classification")
    values: dict[str, list[float]] = {m: [] for m in PROBE_METRICS}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(x, y):
        probes = {
            "logreg": LogisticRegression(max_iter=max_iter),
            "knn": KNeighborsClassifier(
                n_neighbors=min(k, len(train)), metric="cosine", algorithm="brute"
            ),
        }
        for name, model in probes.items():
            pred = model.fit(x[train], y[train]).predict(x[test])
            values[f"{name}_accuracy"].append(float(accuracy_score(y[test], pred)))
            values[f"{name}_f1_macro"].append(
                float(f1_score(y[test], pred, average="macro", zero_division=0))
            )
    return {m: float(np.mean(v)) for m, v in values.items()}


__all__ = [
    "PROBE_METRICS",
    "ClassificationTask",
    "load_classification_task",
    "probe_scores",
]
