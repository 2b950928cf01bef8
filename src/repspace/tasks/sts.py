"""Semantic textual similarity (STS) tasks: JSONL pairs ``{"s1", "s2", "score"}`` scored by
the Spearman and Pearson correlation between the cosine of the two sentences' vectors and the
human score, as in Reimers & Gurevych, "Sentence-BERT" (2019), and sentence-transformers'
``EmbeddingSimilarityEvaluator`` (whose numbers these equal; tested).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repspace.errors import RepspaceError


@dataclass
class StsTask:
    """Sentence pairs with a graded similarity score each."""

    name: str
    s1: list[str]
    s2: list[str]
    scores: np.ndarray
    path: Path | None = None

    kind = "sts"

    def sentences(self) -> list[str]:
        """The distinct sentences, in first-seen order (each is encoded once)."""
        return list(dict.fromkeys([*self.s1, *self.s2]))

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path) if self.path else None,
            "pairs": len(self.s1),
            "sentences": len(self.sentences()),
        }


def jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSONL file; bad lines are errors."""
    rows = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise RepspaceError(f"{path}:{lineno}: invalid UTF-8 at byte {e.start}") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise RepspaceError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise RepspaceError(f"{path}:{lineno}: expected a JSON object")
            rows.append((lineno, obj))
    return rows


def load_sts_task(path: str | Path) -> StsTask:
    """Read an STS JSONL file; every line needs non-empty ``s1``, ``s2`` and a finite ``score``."""
    path = Path(path)
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    for lineno, obj in jsonl_rows(path):
        for key in ("s1", "s2"):
            v = obj.get(key)
            if not isinstance(v, str) or not v.strip():
                raise RepspaceError(f"{path}:{lineno}: field {key!r} must be a non-empty string")
        score = obj.get("score")
        number = isinstance(score, int | float) and not isinstance(score, bool)
        if not number or not math.isfinite(score):
            raise RepspaceError(f"{path}:{lineno}: field 'score' must be a finite number")
        s1.append(obj["s1"])
        s2.append(obj["s2"])
        scores.append(float(score))
    if len(scores) < 3:
        raise RepspaceError(f"{path}: {len(scores)} pairs; an STS task needs at least 3")
    if len(set(scores)) < 2:
        raise RepspaceError(f"{path}: every pair has the same score; correlations are undefined")
    return StsTask(path.stem, s1, s2, np.asarray(scores), path)


__all__ = ["StsTask", "jsonl_rows", "load_sts_task"]
