"""``repspace evaluate``: rows, leaderboard, intrinsic metrics and their correlation, cached
encodings, spaces, STS equal to sentence-transformers, the report and the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from helpers import WORDS, assert_one_line_error, run, synthetic_docs, write_jsonl
from repspace import Space, encode, evaluate
from repspace.encoders import Encoder
from repspace.errors import RepspaceError
from repspace.evaluation.classification import probe_scores
from repspace.evaluation.generators import make_task
from repspace.evaluation.leaderboard import write_report
from repspace.fsio import read_json, write_format_json

STS_PAIRS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A woman is slicing an onion.", "A woman is cutting an onion.", 4.6),
    ("A dog runs in the park.", "A cat sleeps on the sofa.", 0.4),
    ("Kids are playing football.", "Children play soccer outside.", 4.0),
    ("The stock market fell today.", "A man is riding a horse.", 0.0),
    ("A plane is taking off.", "An airplane departs from the runway.", 4.4),
    ("Someone is cooking pasta.", "A person is boiling noodles.", 3.6),
    ("The sun is shining.", "It is raining heavily.", 0.8),
    ("A girl is brushing her hair.", "A girl is styling her hair.", 2.5),
    ("Two men are fighting.", "Two people are dancing.", 1.2),
]


@pytest.fixture
def tasks(tmp_path: Path) -> list[Path]:
    docs = [
        {"id": f"p{i}", "title": " ".join(d["text"].split()[:3]), "text": d["text"]}
        for i, d in enumerate(synthetic_docs(60, seed=3))
        if len(d["text"].split()) > 8
    ]
    corpus = write_jsonl(tmp_path / "docs.jsonl", docs)
    make_task(corpus, "split-half", tmp_path / "halves")
    sts = write_jsonl(
        tmp_path / "sts.jsonl", [{"s1": a, "s2": b, "score": s} for a, b, s in STS_PAIRS]
    )
    rng = random.Random(0)
    rows = []
    for i in range(40):
        label = ["animals", "finance"][i % 2]
        vocab = ["cat", "dog", "horse", "bird"] if label == "animals" else ["stock", "bond", "bank"]
        text = " ".join(rng.choices(vocab, k=4) + rng.choices(WORDS, k=3))
        rows.append({"id": f"c{i}", "text": text, "label": label})
    clf = write_jsonl(tmp_path / "clf.jsonl", rows)
    return [tmp_path / "halves", sts, clf]


@pytest.mark.slow
def test_rows_leaderboard_correlation_and_cache(
    tasks: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPSPACE_CACHE", str(tmp_path / "cache"))  # others share the session's
    encoders = ["hash:16", "hash:64", "hash:256"]
    result = evaluate(tasks, encoders=encoders, progress=False)
    assert [t["kind"] for t in result.tasks] == ["retrieval", "sts", "classification"]
    assert len(result.rows) == 9 and [m["encoder"] for m in result.models] == encoders
    for row in result.rows:
        assert row["main_score"] == row["metrics"][row["main_metric"]]
        assert row["intrinsic"]["rankme"] > 1 and 0 <= row["intrinsic"]["isoscore"] <= 1
    retrieval = [r for r in result.rows if r["task_kind"] == "retrieval"]
    assert [r["rank"] for r in retrieval] == [1, 2, 3]
    assert retrieval[0]["main_score"] >= retrieval[-1]["main_score"]
    assert set(retrieval[0]["metrics"]) == {
        "ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100"
    }  # fmt: skip
    clf = next(r for r in result.rows if r["task_kind"] == "classification")
    assert set(clf["metrics"]) == {
        "logreg_accuracy", "logreg_f1_macro", "knn_accuracy", "knn_f1_macro"
    }  # fmt: skip
    board = result.leaderboard
    assert [b["rank"] for b in board] == [1, 2, 3] and len(board[0]["tasks"]) == 3
    means = [b["mean_main_score"] for b in board]
    assert means == sorted(means, reverse=True)
    corr = result.correlation["rankme"]
    assert corr["all_rows"]["rows"] == 9 and -1 <= corr["all_rows"]["spearman"] <= 1
    assert corr["per_task"]["halves"]["rows"] == 3
    assert result.cache["misses"] > 0
    from repspace import load_encoder

    cached = sorted(p.name for p in (Path(result.cache["dir"]) / "spaces").iterdir())
    prints = {load_encoder(e).fingerprint[:16] for e in encoders}
    assert {name.split("-")[0] for name in cached} == prints  # keyed by encoder fingerprint
    assert len(cached) == 3 * 4  # per encoder: corpus, queries, sentences, texts

    again = evaluate(tasks, encoders=encoders, progress=False)
    assert again.cache["misses"] == 0 and again.cache["hits"] == result.cache["misses"]
    assert [r["metrics"] for r in again.rows] == [r["metrics"] for r in result.rows]
    uncached = evaluate(tasks[:1], encoders=encoders[:1], cache=False, progress=False)
    cached = next(r for r in result.rows if r["model"] == "hash:16" and r["task"] == "halves")
    assert uncached.rows[0]["metrics"] == pytest.approx(cached["metrics"], abs=1e-9)
    assert uncached.cache["dir"] is None


def test_space_rows_equal_encoder_rows(tasks: list[Path], tmp_path: Path) -> None:
    space = encode(
        tasks[0] / "corpus.jsonl", "hash:64", tmp_path / "sp", id_field="_id", progress=False
    )
    result = evaluate(tasks, encoders=["hash:64"], spaces=[space.path], progress=False)
    by = {(r["task"], r["model"]): r for r in result.rows}
    for task in ("halves", "sts", "clf"):
        enc_row, space_row = by[(task, "hash:64")], by[(task, "sp")]
        for key, value in enc_row["metrics"].items():
            assert space_row["metrics"][key] == pytest.approx(value, abs=1e-6)
    assert "queries encoded with its encoder" in by[("halves", "sp")]["notes"][0]
    assert result.models[1]["space"] == str(space.path)


def test_space_problems_are_one_line_errors(tasks: list[Path], tmp_path: Path) -> None:
    partial = write_jsonl(
        tmp_path / "part.jsonl",
        [json.loads(line) for line in (tasks[0] / "corpus.jsonl").read_text().splitlines()[:5]],
    )
    space = encode(partial, "hash:32", tmp_path / "part", id_field="_id", progress=False)
    with pytest.raises(RepspaceError, match=r"lacks \d+ of the \d+ document ids of task halves"):
        evaluate(tasks[:1], spaces=[space.path], progress=False)

    vectors = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    imported = Space.from_arrays(tmp_path / "imp", ["a", "b", "c"], vectors)
    with pytest.raises(RepspaceError, match="without an encoder spec"):
        evaluate(tasks[1:2], spaces=[imported.path], progress=False)

    full = encode(tasks[0] / "corpus.jsonl", "hash:32", tmp_path / "f", id_field="_id",
                  progress=False)  # fmt: skip
    manifest = read_json(full.path / "manifest.json")
    manifest["fingerprint"] = manifest["encoder"]["fingerprint"] = "0" * 64  # another model's
    write_format_json(full.path / "manifest.json", manifest)
    with pytest.raises(RepspaceError, match="vectors of different models are never mixed"):
        evaluate(tasks[:1], spaces=[full.path], progress=False)

    with pytest.raises(RepspaceError, match="nothing to evaluate"):
        evaluate(tasks, progress=False)
    with pytest.raises(RepspaceError, match="given twice"):
        evaluate(tasks, encoders=["hash:8", "hash:8"], progress=False)
    with pytest.raises(RepspaceError, match="no task given"):
        evaluate([], encoders=["hash:8"], progress=False)


def test_probes() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8) * 10
    labels = [str(i % 3) for i in range(60)]
    x = centres[[int(v) for v in labels]] + rng.standard_normal((60, 8))
    scores = probe_scores(x, labels, folds=5)
    assert scores["logreg_accuracy"] == 1.0 and scores["knn_f1_macro"] == 1.0
    noise = probe_scores(rng.standard_normal((60, 8)), labels, folds=3)
    assert noise["logreg_accuracy"] < 0.7
    with pytest.raises(RepspaceError, match="label '2' has 2 example"):
        probe_scores(x[:8], labels[:8], folds=3)


def test_report(tasks: list[Path], tmp_path: Path) -> None:
    result = evaluate(tasks, encoders=["hash:16", "hash:64"], progress=False)
    page = write_report(result, tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    for needle in ("Leaderboard", "<svg", "<rect", "nDCG@10", "Spearman", "IsoScore",
                   "hash:64 on halves"):  # fmt: skip
        assert needle in page
    assert "<script" not in page


@pytest.mark.slow
def test_sts_equals_sentence_transformers_evaluator(tasks: list[Path], minilm) -> None:
    try:
        from sentence_transformers.sentence_transformer.evaluation import (
            EmbeddingSimilarityEvaluator,
        )
    except ImportError:  # older sentence-transformers
        from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

    result = evaluate(tasks[1:2], encoders=[minilm], progress=False)
    row = result.rows[0]
    s1, s2, gold = zip(*STS_PAIRS, strict=True)
    reference = EmbeddingSimilarityEvaluator(
        list(s1), list(s2), list(gold), similarity_fn_names=["cosine"]
    )(minilm.model)
    assert row["metrics"]["spearman"] == pytest.approx(reference["spearman_cosine"], abs=1e-4)
    assert row["metrics"]["pearson"] == pytest.approx(reference["pearson_cosine"], abs=1e-4)
    assert row["metrics"]["spearman"] > 0.8


@pytest.mark.slow
def test_cli_evaluate_and_make_task(tmp_path: Path, tasks: list[Path]) -> None:
    docs = write_jsonl(
        tmp_path / "raw.jsonl",
        [{"id": d["id"], "text": d["text"] + ". Second sentence here."}
         for d in synthetic_docs(30)],
    )  # fmt: skip
    made = run("make-task", docs, "--kind", "split-half", "--out", tmp_path / "t", "--seed", "3")
    assert made.returncode == 0, made.stderr
    assert "documents" in made.stdout and (tmp_path / "t" / "qrels" / "test.tsv").is_file()
    assert read_json(tmp_path / "t" / "task.json")["seed"] == 3

    report = tmp_path / "out.html"
    shown = run("evaluate", tmp_path / "t", tasks[1], "-e", "hash:32", "-e", "hash:8",
                "--report", report)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    for needle in ("nDCG@10", "Spearman", "RankMe", "leaderboard", f"report: {report}"):
        assert needle in shown.stdout
    data = json.loads(run("evaluate", tmp_path / "t", "--encoder", "hash:32", "--json").stdout)
    assert data["rows"][0]["task"] == "t" and "correlation" in data

    assert_one_line_error(run("evaluate", tmp_path / "t"), "nothing to evaluate")
    (tmp_path / "t" / "qrels" / "test.tsv").write_text("q\tnope\t1\n", encoding="utf-8")
    assert_one_line_error(run("evaluate", tmp_path / "t", "-e", "hash:8"), "not in queries.jsonl")
    assert_one_line_error(
        run("make-task", docs, "--kind", "title-body", "--out", tmp_path / "u"), "no title"
    )


class ConstantEncoder(Encoder):
    """Every text gets the same vector: the correlations are undefined."""

    spec = "const:4"
    normalized = True

    @property
    def dim(self) -> int:
        return 4

    def encode(self, texts, batch_size: int = 32) -> np.ndarray:
        return np.tile(np.float32([1, 0, 0, 0]), (len(texts), 1))

    def _fingerprint_parts(self):
        return ()


def test_undefined_scores_are_none_not_nan(tasks: list[Path]) -> None:
    result = evaluate(tasks[1:2], encoders=[ConstantEncoder(), "hash:32"], progress=False)
    const = next(r for r in result.rows if r["model"] == "const:4")
    assert const["metrics"] == {"spearman": None, "pearson": None} and const["rank"] == 2
    assert const["main_score"] is None
    assert "NaN" not in json.dumps(result.to_dict())
