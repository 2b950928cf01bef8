"""Tasks: BEIR-layout retrieval tasks, STS and classification files, make-task; bad input is
a one-line error or a counted skip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import write_jsonl
from repspace import Record
from repspace.errors import RepspaceError
from repspace.evaluation.generators import make_pairs, make_task, span_pairs
from repspace.evaluation.retrieval import read_qrels
from repspace.evaluation.tasks import (
    ClassificationTask,
    RetrievalTask,
    StsTask,
    load_retrieval_task,
    load_task,
    task_kind,
)

PARAGRAPH = (
    "Dense retrievers encode queries and documents separately. They are trained with "
    "contrastive losses on many pairs. Hard negatives make the training signal stronger. "
    "Evaluation uses benchmarks such as BEIR."
)


def beir_task(root: Path, *, qrels: str | None = None, id_key: str = "_id") -> Path:
    write_jsonl(
        root / "corpus.jsonl",
        [
            {id_key: "d1", "title": "Cats", "text": "cats purr and sleep"},
            {id_key: "d2", "title": "", "text": "dogs bark at night"},
            {id_key: "d3", "text": "fish swim in the sea"},
        ],
    )
    write_jsonl(
        root / "queries.jsonl",
        [
            {id_key: "q1", "text": "purring animals"},
            {id_key: "q2", "text": "barking"},
            {id_key: "q3", "text": "unjudged query"},
            {id_key: "q4", "text": "only non-relevant judgments"},
        ],
    )
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text(
        qrels or "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t1\nq2\td2\t1\nq4\td3\t0\n",
        encoding="utf-8",
    )
    return root


def test_beir_layout_prepends_titles_and_counts_skipped_queries(tmp_path: Path) -> None:
    task = load_task(beir_task(tmp_path / "t"))
    assert isinstance(task, RetrievalTask) and task.kind == "retrieval"
    assert [r.text for r in task.corpus] == [
        "Cats cats purr and sleep",  # title + " " + text, as BEIR does
        "dogs bark at night",
        "fish swim in the sea",
    ]
    assert task.corpus[0].fields == {"title": "Cats"}
    assert task.queries == {"q1": "purring animals", "q2": "barking"}
    assert task.qrels == {"q1": {"d1": 2, "d3": 1}, "q2": {"d2": 1}}
    assert dict(task.skipped) == {"no judgments": 1, "no relevant document": 1}
    info = task.describe()
    assert info["skipped"]["total"] == 2 and info["documents"] == 3 and info["queries"] == 2


def test_plain_id_field_and_qrels_tsv_at_the_top(tmp_path: Path) -> None:
    root = beir_task(tmp_path / "t", id_key="id")
    (root / "qrels" / "test.tsv").rename(root / "qrels.tsv")
    (root / "qrels").rmdir()
    assert load_retrieval_task(root).doc_ids == ["d1", "d2", "d3"]


def test_qrels_trec_format_without_header(tmp_path: Path) -> None:
    f = tmp_path / "q.tsv"
    f.write_text("q1 0 d1 1\nq1 0 d2 0\n", encoding="utf-8")
    assert read_qrels(f) == {"q1": {"d1": 1, "d2": 0}}


@pytest.mark.parametrize(
    ("qrels", "needle"),
    [
        ("q1\tdX\t1\n", "1 judged document id(s) are not in corpus.jsonl (first: 'dX')"),
        ("qX\td1\t1\n", "1 judged query id(s) are not in queries.jsonl (first: 'qX')"),
        ("q1\td1\t1\nq1\td1\t2\n", "judges 'd1' twice"),
        ("q1\td1\tyes\nq1\td2\tno\n", "test.tsv:2: score 'no' is not a number"),
        ("q1\td1\n", "expected 3 tab-separated fields"),
        ("q1\td1\t0\n", "no query has a relevant document"),
    ],
)
def test_bad_qrels_are_one_line_errors(tmp_path: Path, qrels: str, needle: str) -> None:
    root = beir_task(tmp_path / "t", qrels=qrels)
    with pytest.raises(RepspaceError, match=None) as e:
        load_task(root)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_empty_and_malformed_tasks(tmp_path: Path) -> None:
    root = beir_task(tmp_path / "t")
    (root / "corpus.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(RepspaceError, match="empty file"):
        load_task(root)
    (root / "corpus.jsonl").write_text('{"text": "no id"}\n', encoding="utf-8")
    with pytest.raises(RepspaceError, match="no '_id'"):
        load_task(root)
    other = tmp_path / "dir"
    other.mkdir()
    with pytest.raises(RepspaceError, match="not a task"):
        load_task(other)
    with pytest.raises(RepspaceError, match="no such task"):
        load_task(tmp_path / "missing")
    bad = write_jsonl(tmp_path / "x.jsonl", [{"foo": 1}])
    with pytest.raises(RepspaceError, match=r"x.jsonl:1: not a task record"):
        task_kind(bad)


def test_sts_and_classification_files(tmp_path: Path) -> None:
    sts = write_jsonl(
        tmp_path / "sts.jsonl",
        [{"s1": f"a {i}", "s2": f"b {i % 2}", "score": i / 2} for i in range(5)],
    )
    task = load_task(sts)
    assert isinstance(task, StsTask) and len(task.s1) == 5
    assert task.sentences()[:3] == ["a 0", "a 1", "a 2"] and "b 0" in task.sentences()
    clf = write_jsonl(tmp_path / "clf.jsonl", [{"text": f"t{i}", "label": i % 3} for i in range(9)])
    ctask = load_task(clf)
    assert isinstance(ctask, ClassificationTask)
    assert ctask.labels[:4] == ["0", "1", "2", "0"] and ctask.ids is None


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([{"s1": "a", "s2": "", "score": 1}], "field 's2' must be a non-empty string"),
        ([{"s1": "a", "s2": "b", "score": "high"}], "field 'score' must be a finite number"),
        ([{"s1": "a", "s2": "b", "score": 1}] * 4, "every pair has the same score"),
        ([{"s1": "a", "s2": "b", "score": 1}], "1 pairs; an STS task needs at least 3"),
        ([{"text": "a", "label": "x"}, {"text": "b", "label": "x"}], "only one label"),
        ([{"text": "a", "label": "x", "id": 1}, {"text": "b", "label": "y"}], "on every line"),
        ([{"text": "", "label": "x"}], "field 'text' must be a non-empty string"),
    ],
)
def test_bad_sts_and_classification_rows(tmp_path: Path, rows: list, needle: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(RepspaceError) as e:
        load_task(path)
    assert needle in str(e.value)


def papers(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "papers.jsonl",
        [
            {"id": "a", "title": "Dense retrieval", "abstract": PARAGRAPH},
            {
                "id": "b",
                "title": "",
                "abstract": "An abstract without a title, but long enough to split in two.",
            },
            {
                "id": "c",
                "title": "Hashing",
                "abstract": "Feature hashing is fast. It needs no "
                "model at all. Collisions add a little noise.",
            },
            {"id": "d", "title": "Tiny", "abstract": "Too short."},
        ],
    )


def test_make_task_title_body(tmp_path: Path) -> None:
    out = tmp_path / "task"
    info = make_task(papers(tmp_path), "title-body", out, text_field="abstract")
    assert info.kind == "title-body" and info.documents == 3 and info.queries == 3
    assert info.skipped == {"total": 1, "by_reason": {"no title": 1}}
    assert len(info.source["hash"]) == 64
    task = load_task(out)
    assert isinstance(task, RetrievalTask)
    assert task.queries["a"] == "Dense retrieval" and task.qrels["a"] == {"a": 1}
    assert next(r.text for r in task.corpus if r.id == "a") == PARAGRAPH  # body only
    assert json.loads((out / "task.json").read_text()) == info.to_dict() and info.seed == 0
    with pytest.raises(RepspaceError, match="directory is not empty; pass --overwrite"):
        make_task(papers(tmp_path), "title-body", out, text_field="abstract")


def test_make_task_split_half_and_span_are_seeded(tmp_path: Path) -> None:
    source = papers(tmp_path)
    info = make_task(source, "split-half", tmp_path / "h", text_field="abstract")
    assert info.documents == 3 and info.skipped["by_reason"] == {"too short": 1}
    half = load_task(tmp_path / "h")
    words = PARAGRAPH.split()
    assert half.queries["a"] == " ".join(words[: len(words) // 2])

    runs = [(tmp_path / f"s{seed}-{i}", seed) for seed, i in [(0, 0), (0, 1), (1, 0)]]
    for out, seed in runs:
        make_task(source, "span", out, text_field="abstract", seed=seed)
    a, b, c = (load_task(out) for out, _ in runs)
    assert a.queries == b.queries and a.doc_texts == b.doc_texts  # deterministic
    assert a.skipped == b.skipped
    one = [Record("x", PARAGRAPH)]
    spans = {seed: next(span_pairs(one, seed=seed)).query for seed in range(8)}
    assert len(set(spans.values())) > 1  # the seed changes the chosen sentence
    assert c.queries != a.queries or c.doc_texts != a.doc_texts
    assert dict(a.skipped) == {}  # the skips are counted in task.json
    info = json.loads((runs[0][0] / "task.json").read_text())
    assert info["skipped"]["by_reason"] == {"fewer than 2 sentences": 2}
    for qid, query in a.queries.items():
        doc = next(r.text for r in a.corpus if r.id == qid)
        assert query not in doc  # the span is removed from its document (ICT)


def test_make_task_rejects_unsuitable_input(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", [{"id": "x", "text": "one short line"}])
    with pytest.raises(RepspaceError, match="no document suits --kind span"):
        make_task(source, "span", tmp_path / "o")
    with pytest.raises(RepspaceError, match="--kind must be one of"):
        make_task(source, "bogus", tmp_path / "o")
    with pytest.raises(RepspaceError, match="pass --title-field"):
        make_task(source, "title-body", tmp_path / "o")
    assert list(make_pairs([], "split-half")) == []


def test_bad_record_in_a_task_file_names_file_and_line(tmp_path: Path) -> None:
    root = beir_task(tmp_path / "t")
    with open(root / "queries.jsonl", "a", encoding="utf-8") as f:
        f.write('{"_id": "q9", "text": ""}\n')
    with pytest.raises(RepspaceError) as e:
        load_task(root)
    assert str(e.value).endswith("queries.jsonl:5: empty text (fix the task file)")


def test_make_task_max_queries_samples_queries_keeps_documents(tmp_path: Path) -> None:
    docs = [{"id": f"d{i}", "text": f"word{i} " * 10} for i in range(20)]
    source = write_jsonl(tmp_path / "c.jsonl", docs)
    info = make_task(source, "split-half", tmp_path / "a", max_queries=5, seed=1)
    make_task(source, "split-half", tmp_path / "b", max_queries=5, seed=1)
    assert info.documents == 20 and info.queries == 5
    a, b = load_task(tmp_path / "a"), load_task(tmp_path / "b")
    assert list(a.queries) == list(b.queries) and len(a.corpus) == 20
