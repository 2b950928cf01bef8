"""Evaluation tasks: retrieval (BEIR layout), STS pairs, classification, and retrieval tasks
made from a user's own corpus (:mod:`repspace.evaluation.generators`).

:func:`load_task` reads any of them, by layout: a directory holding ``corpus.jsonl`` is a
retrieval task; a JSONL file whose first record has ``s1``/``s2``/``score`` is an STS task, one
with ``text``/``label`` a classification task.
"""

from __future__ import annotations

from pathlib import Path

from repspace.errors import RepspaceError
from repspace.evaluation.classification import ClassificationTask, load_classification_task
from repspace.evaluation.retrieval import RetrievalTask, is_retrieval_dir, load_retrieval_task
from repspace.evaluation.sts import StsTask, load_sts_task
from repspace.fsio import read_jsonl

Task = RetrievalTask | StsTask | ClassificationTask


def task_kind(path: str | Path) -> str:
    """``retrieval``, ``sts`` or ``classification``, from the layout at ``path``."""
    path = Path(path)
    if is_retrieval_dir(path):
        return "retrieval"
    if path.is_dir():
        raise RepspaceError(
            f"{path}: not a task (a retrieval task directory holds corpus.jsonl, queries.jsonl "
            "and qrels/test.tsv)"
        )
    if not path.is_file():
        raise RepspaceError(f"{path}: no such task file or directory")
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise RepspaceError(
            f"{path}: unsupported task file (STS and classification tasks are JSONL)"
        )
    rows = read_jsonl(path)
    lineno, first = next(rows, (0, None))
    rows.close()
    if first is None:
        raise RepspaceError(f"{path}: empty task file")
    if {"s1", "s2", "score"} <= first.keys():
        return "sts"
    if {"text", "label"} <= first.keys():
        return "classification"
    raise RepspaceError(
        f"{path}:{lineno}: not a task record (STS needs s1, s2, score; classification "
        f"needs text, label; found {', '.join(sorted(first)) or 'no fields'})"
    )


def load_task(path: str | Path) -> Task:
    """Load the task at ``path``, whatever its kind (see the module docstring)."""
    kind = task_kind(path)
    if kind == "retrieval":
        return load_retrieval_task(path)
    if kind == "sts":
        return load_sts_task(path)
    return load_classification_task(path)


__all__ = [
    "ClassificationTask",
    "RetrievalTask",
    "StsTask",
    "Task",
    "load_classification_task",
    "load_retrieval_task",
    "load_sts_task",
    "load_task",
    "task_kind",
]
