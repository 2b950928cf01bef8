"""Classification tasks: JSONL ``{"text", "label"}`` (optionally ``"id"``), measured with
linear and kNN probes on frozen vectors as in MTEB (Muennighoff et al., 2023): here a
logistic-regression probe and a cosine kNN probe, stratified k-fold, accuracy and macro-F1.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repspace.errors import RepspaceError
from repspace.tasks.sts import jsonl_rows


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
    for lineno, obj in jsonl_rows(path):
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


__all__ = ["ClassificationTask", "load_classification_task"]
