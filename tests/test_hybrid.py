"""Hybrid search: BM25 against its reference, the fusion arithmetic, the lexical side following
the dense one, and hybrid search through the API, the CLI, the server, migrate and evaluate."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import repspace
from helpers import assert_one_line_error, run, synthetic_docs, write_jsonl
from repspace import Migration, RepspaceError
from repspace.index import Index
from repspace.index.fusion import Candidates, Fusion, convex, hybrid, rrf, scale
from repspace.index.lexical import Analyzer, LexicalIndex
from repspace.index.server import create_app

TEXTS = [
    "The cat sat on the mat.",
    "Dogs and cats living together: mass hysteria!",
    "A sha256 checksum of a file, computed in chunks.",
    "Compute an Adler-32 checksum of data.",
    "Running runners run; the runner ran.",
    "Graph neural networks for molecules",
    "",
    "cat cat cat cat cat cat cat cat cat cat dog",
]


def _rows() -> list[dict[str, str]]:
    rows = synthetic_docs(200, seed=3)
    for i, row in enumerate(rows):
        row["kind"] = ("alpha", "beta")[i % 2]
    rows.append({"id": "sha", "text": "a sha256 checksum of a file", "kind": "beta"})
    rows.append({"id": "zebra", "text": "zebra giraffe savanna", "kind": "alpha"})
    return rows


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hybrid")
    corpus = write_jsonl(root / "docs.jsonl", _rows())
    repspace.encode(corpus, "hash:64", root / "space", fields=["kind"], progress=False)
    Index.build(root / "space", root / "index", progress=False)
    return root / "index"


# ------------------------------------------------------------------ BM25
def test_analyzer_lowercases_drops_stop_words_and_stems() -> None:
    a = Analyzer()
    assert a.terms("The Runners are RUNNING, and ran!") == ["runner", "run", "ran"]
    assert Analyzer(stemmer="none").terms("Running runners") == ["running", "runners"]
    assert Analyzer(stopwords="none", stemmer="none").terms("the cat") == ["the", "cat"]
    assert a.terms("hashlib.file_digest sha256 a b") == [
        "hashlib", "file_digest", "file", "digest", "sha256"
    ]  # fmt: skip
    assert a.terms("HTTPServer") == ["httpserver", "http", "server"]
    assert Analyzer(split_identifiers=False).terms("HTTPServer file_digest") == [
        "httpserver", "file_digest"
    ]  # fmt: skip
    assert a.matched("Use hashlib.file_digest", a.terms("digest")) == ["file_digest"]
    assert a.matched("Runners run; the RUN ended", a.terms("running")) == ["run", "RUN"]
    with pytest.raises(RepspaceError, match="--stemmer 'klingon'"):
        Analyzer(stemmer="klingon")
    with pytest.raises(RepspaceError, match="--stopwords"):
        Analyzer(stopwords="french")


def test_bm25_equals_the_reference_implementation() -> None:
    """Lucene's BM25 through bm25s equals rank-bm25 (Okapi, with Lucene's idf) on the same
    tokens, for every document and query."""
    from rank_bm25 import BM25Okapi

    class LuceneBM25(BM25Okapi):
        def _calc_idf(self, nd: dict[str, int]) -> None:
            for word, df in nd.items():
                self.idf[word] = math.log(1 + (self.corpus_size - df + 0.5) / (df + 0.5))

    texts = TEXTS + [d["text"] for d in synthetic_docs(60, seed=1)]
    lexical = LexicalIndex.build(texts)
    reference = LuceneBM25([lexical.analyzer.terms(t) for t in texts], k1=1.2, b=0.75)
    for query in ["cat on a mat", "sha256 checksum file", "running dog", "vector vector space",
                  "neural molecules graph", "unseenword"]:  # fmt: skip
        terms = lexical.query_terms(query)
        # rank-bm25 multiplies every term by k1 + 1, Lucene (since 8.0) does not: the same order
        expected = reference.get_scores(terms) / (1.2 + 1)
        np.testing.assert_allclose(lexical.scores(terms), expected, rtol=1e-5, atol=1e-6)
    assert lexical.query_terms("unseenword") == [] and not lexical.scores([]).any()


def test_add_and_delete_keep_both_sides_in_sync(tmp_path: Path) -> None:
    rows = synthetic_docs(40, seed=7)
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    repspace.encode(corpus, "hash:32", tmp_path / "space", progress=False)
    Index.build(tmp_path / "space", tmp_path / "ix", progress=False)
    rng = random.Random(0)
    texts = {r["id"]: r["text"] for r in rows}
    for step in range(12):
        index = Index.open(tmp_path / "ix")
        if rng.random() < 0.5 and len(texts) > 5:
            gone = rng.sample(sorted(texts), rng.randint(1, 4))
            index.delete(gone)
            for i in gone:
                del texts[i]
        else:
            new = {f"new-{step}-{j}": f"{rng.choice(['zebra', 'cat', 'vector'])} text {step}"
                   for j in range(rng.randint(1, 3))}  # fmt: skip
            index.add(list(new), texts=list(new.values()))
            texts.update(new)
        reopened = Index.open(tmp_path / "ix")
        ids = reopened.rows.column("id").to_pylist()
        assert sorted(ids) == sorted(texts) and reopened.lexical is not None
        assert reopened.lexical.n == reopened.n == len(ids) == len(reopened.ann)
        fresh = LexicalIndex.build([texts[i] for i in ids])
        for q in ("zebra text", "vector space cosine", "cat"):
            terms = fresh.query_terms(q)
            np.testing.assert_allclose(reopened.lexical.scores(terms), fresh.scores(terms), 1e-5)
    names = sorted(p.name for p in (tmp_path / "ix").iterdir())
    assert [n for n in names if n.startswith("lexical-")] == [reopened.manifest["lexical"]["dir"]]


def test_a_corrupt_lexical_file_is_refused(tmp_path: Path, index_dir: Path) -> None:
    import shutil

    copy = tmp_path / "ix"
    shutil.copytree(index_dir, copy)
    m = json.loads((copy / "manifest.json").read_text())
    victim = copy / m["lexical"]["dir"] / "tokens.npy"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(RepspaceError, match=r"tokens\.npy: checksum mismatch"):
        Index.open(copy)
    victim.unlink()
    with pytest.raises(RepspaceError, match="lexical index file missing"):
        Index.open(copy)


# ------------------------------------------------------------------ fusion
def test_fusion_arithmetic_on_hand_made_scores() -> None:
    dense = np.array([0.8, 0.2, -0.4, 0.5])
    lexical = np.array([0.0, 6.0, 3.0, 1.5])
    np.testing.assert_allclose(scale(dense, "minmax", -1), [1.0, 0.5, 0.0, 0.75])
    np.testing.assert_allclose(scale(dense, "tmm", -1), [1.0, 1.2 / 1.8, 0.6 / 1.8, 1.5 / 1.8])
    np.testing.assert_allclose(scale(lexical, "tmm", 0), [0.0, 1.0, 0.5, 0.25])
    np.testing.assert_allclose(scale(np.zeros(3), "tmm", 0), [0, 0, 0])
    got = convex(dense, lexical, 0.25, "tmm")
    want = 0.25 * np.array([1.0, 1.2 / 1.8, 0.6 / 1.8, 1.5 / 1.8]) + 0.75 * np.array(
        [0.0, 1.0, 0.5, 0.25]
    )
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(convex(dense, lexical, 1.0, "minmax"), scale(dense, "minmax", -1))
    np.testing.assert_allclose(
        rrf(np.array([1.0, 2.0, np.inf]), np.array([np.inf, 1.0, 2.0])),
        [1 / 61, 1 / 62 + 1 / 61, 1 / 62],
    )


def test_hybrid_fuses_the_union_of_both_candidate_lists() -> None:
    dense_all = np.array([0.9, 0.8, 0.1, 0.0, 0.7])
    lexical_all = np.array([0.0, 0.0, 5.0, 2.0, 0.0])
    c = Candidates(np.array([0, 1]), dense_all[:2], lexical_all, lambda pos: dense_all[pos])
    f = hybrid(c, 4, Fusion(alpha=0.5, norm="tmm", candidates=2))
    # union {0, 1, 2, 3}: both scores known for all, row 4 was retrieved by neither side
    assert sorted(f.positions.tolist()) == [0, 1, 2, 3]
    np.testing.assert_allclose(f.dense, dense_all[f.positions])
    np.testing.assert_allclose(f.lexical, lexical_all[f.positions])
    assert f.positions[0] == 2  # 0.5 * 1.1 / 1.9 + 0.5 * 1 beats row 0's 0.5 * 1 + 0
    r = hybrid(c, 4, Fusion(fusion="rrf", candidates=2))
    np.testing.assert_allclose(sorted(r.fused, reverse=True), [1 / 61] * 2 + [1 / 62] * 2)
    assert r.positions.tolist() == [0, 2, 1, 3]  # equal fused scores: lower position first
    for bad, match in [({"alpha": 1.5}, "alpha"), ({"fusion": "max"}, "--fusion 'max'"),
                       ({"norm": "z"}, "--norm"), ({"candidates": 0}, "candidates")]:  # fmt: skip
        with pytest.raises(RepspaceError, match=match):
            Fusion(**bad)


# ------------------------------------------------------------------ the index
def test_index_search_modes_explain_and_filters(index_dir: Path) -> None:
    index = Index.open(index_dir)
    assert index.default_mode == "hybrid" and index.info().lexical
    hits = index.search("sha256 checksum", 5)
    assert hits.mode == "hybrid" and hits.terms == ["sha256", "checksum"] and hits.note is None
    assert hits[0].id == "sha" and hits[0].matched == ["sha256", "checksum"]
    s = hits[0].scores
    assert s is not None and s["fused"] == hits[0].score and s["lexical"] > 0
    assert -1 <= s["dense"] <= 1
    lexical = index.search("sha256 checksum", 5, mode="lexical")
    assert [h.id for h in lexical] == ["sha"]  # only documents with a matching term
    assert lexical[0].scores == {"dense": None, "lexical": lexical[0].score,
                                 "fused": lexical[0].score}  # fmt: skip
    dense = index.search("sha256 checksum", 5, mode="dense")
    assert dense.mode == "dense" and all(
        h.scores and h.scores["lexical"] is not None for h in dense
    )
    filtered = index.search("zebra vector", 20, filters={"kind": "beta"})
    assert len(filtered) == 20 and {h.fields["kind"] for h in filtered} == {"beta"}
    assert "zebra" not in {h.id for h in filtered}  # the lexical side is filtered too
    assert index.search("zebra", 3, filters={"kind": "nothing"}) == []
    rrf_hits = index.search("zebra giraffe", 3, fusion="rrf")
    assert rrf_hits[0].id == "zebra"
    assert index.search("zebra giraffe", 3, alpha=1.0)[0].scores is not None
    stop = index.search("the of and", 4)
    assert len(stop) == 4 and stop.terms == [] and "dense hits alone" in (stop.note or "")
    assert [h.id for h in stop] == [h.id for h in index.search("the of and", 4, mode="dense")]
    assert index.search("the of and", 4, mode="lexical") == []
    with pytest.raises(RepspaceError, match="needs the query as text"):
        index.search(np.ones(64, np.float32), mode="hybrid", fingerprint=index.fingerprint)
    with pytest.raises(RepspaceError, match="alpha"):
        index.search("zebra", alpha=-0.1)


def test_cli_index_search_and_bad_input(tmp_path: Path, index_dir: Path) -> None:
    space = index_dir.parent / "space"
    r = run("index", space, "--out", tmp_path / "ix", "--stemmer", "none", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "BM25" in r.stdout
    assert Index.open(tmp_path / "ix").lexical.analyzer.stemmer == "none"  # type: ignore[union-attr]
    r = run("search", tmp_path / "ix", "sha256 checksum", "-k", "2", "--json")
    body = json.loads(r.stdout)
    assert body["mode"] == "hybrid" and body["hits"][0]["id"] == "sha"
    assert set(body["hits"][0]["scores"]) == {"dense", "lexical", "fused"}
    r = run("search", tmp_path / "ix", "the of", "-k", "2")
    assert r.returncode == 0 and "dense hits alone" in r.stderr
    r = run("index", space, "--out", tmp_path / "dense", "--no-lexical", "--quiet")
    assert r.returncode == 0 and "BM25" not in r.stdout
    assert_one_line_error(run("search", tmp_path / "dense", "x", "--mode", "lexical"),
                          "no lexical part", "--mode dense")  # fmt: skip
    assert_one_line_error(run("search", tmp_path / "ix", "x", "--alpha", "1.5"), "--alpha 1.5")
    assert_one_line_error(run("search", tmp_path / "ix", "x", "--fusion", "max"), "--fusion")
    assert_one_line_error(run("search", tmp_path / "ix", "x", "--mode", "sparse"), "--mode")
    assert_one_line_error(run("index", space, "--out", tmp_path / "y", "--stemmer", "x"), "stemmer")


def test_server_hybrid_parameters(index_dir: Path) -> None:
    client = TestClient(create_app({"docs": Index.open(index_dir)}), base_url="http://127.0.0.1")
    r = client.get("/search", params={"q": "sha256 checksum", "k": 3})
    body = r.json()
    assert r.status_code == 200 and body["mode"] == "hybrid" and body["hits"][0]["id"] == "sha"
    assert body["hits"][0]["matched"] == ["sha256", "checksum"]
    r = client.post("/search", json={"query": "zebra", "mode": "lexical", "k": 3})
    assert r.status_code == 200 and [h["id"] for h in r.json()["hits"]] == ["zebra"]
    r = client.get("/search", params={"q": "zebra", "fusion": "rrf", "alpha": "0.2"})
    assert r.status_code == 200
    for params in ({"alpha": "1.5"}, {"alpha": "-1"}, {"mode": "sparse"}, {"fusion": "max"},
                   {"norm": "z"}, {"candidates": "0"}):  # fmt: skip
        r = client.get("/search", params={"q": "zebra", **params})
        assert r.status_code == 422 and isinstance(r.json()["error"], str), params
    r = client.post("/search", json={"query": "zebra", "alpha": 2})
    assert r.status_code == 422
    assert client.get("/spaces").json()[0]["mode"] == "hybrid"


def test_server_without_lexical_part(tmp_path: Path, index_dir: Path) -> None:
    Index.build(index_dir.parent / "space", tmp_path / "dense", lexical=False, progress=False)
    app = create_app({"dense": Index.open(tmp_path / "dense")})
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get("/search", params={"q": "zebra"}).json()["mode"] == "dense"
    r = client.get("/search", params={"q": "zebra", "mode": "hybrid"})
    assert r.status_code == 400 and "no lexical part" in r.json()["error"]


def test_tune_records_alpha_and_evaluate_has_bm25_and_hybrid_rows(tmp_path: Path) -> None:
    words = ["zebra", "cat", "vector", "giraffe", "mat", "shard"] * 10
    rows = [{"id": f"d{i}", "title": f"topic {w} item {i}", "text": f"{w} notes about item {i}"}
            for i, w in enumerate(words)]  # fmt: skip
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    r = run("make-task", corpus, "--kind", "title-body", "--out", tmp_path / "task")
    assert r.returncode == 0, r.stderr
    r = run("encode", tmp_path / "task" / "corpus.jsonl", "--encoder", "hash:64", "--id-field",
            "_id", "--out", tmp_path / "space", "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run(
        "index", tmp_path / "space", "--out", tmp_path / "ix", "--tune", tmp_path / "task", "-q"
    )
    assert r.returncode == 0, r.stderr
    assert "tuned on 60 queries" in r.stdout
    fusion = Index.open(tmp_path / "ix").manifest["fusion"]
    assert 0 <= fusion["alpha"] <= 1 and fusion["tuned"]["queries"] == 60
    assert len(fusion["tuned"]["curve"]) == 21
    result = repspace.evaluate([tmp_path / "task"], retrievers=["bm25", "hybrid:hash:64"],
                               encoders=["hash:64"], progress=False)  # fmt: skip
    rows_by = {row["model"]: row for row in result.rows}
    assert set(rows_by) == {"bm25", "hybrid:hash:64", "hash:64"}
    assert rows_by["bm25"]["main_score"] > 0.5 and rows_by["bm25"]["intrinsic"]["rankme"] is None
    assert rows_by["hybrid:hash:64"]["main_score"] >= rows_by["hash:64"]["main_score"] - 0.05
    assert_one_line_error(run("evaluate", tmp_path / "task", "--retriever", "bm26"), "bm26")
    r = run("evaluate", tmp_path / "task", "--retriever", "bm25", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["rows"][0]["model"] == "bm25"


def test_migrate_search_modes(tmp_path: Path) -> None:
    rows = [*synthetic_docs(120, seed=2), {"id": "zebra", "text": "zebra giraffe savanna"}]
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    repspace.encode(corpus, "hash:128", tmp_path / "old", progress=False)
    mig = Migration.start(tmp_path / "old", "hash:192", tmp_path / "mig", sample=0.5, batch=40)
    assert mig.search("zebra giraffe", 3, mode="lexical")[0] == [
        ("zebra", pytest.approx(mig.search("zebra giraffe", 1, mode="lexical")[0][0][1]))
    ]
    hybrid_hits = mig.search("zebra giraffe", 3)[0]
    assert hybrid_hits[0][0] == "zebra" and len(hybrid_hits) == 3
    mig.backfill(max_batches=1)
    assert mig.search("zebra giraffe", 3, mode="hybrid")[0][0][0] == "zebra"
    dense = mig.search("zebra giraffe", 3, mode="dense")[0]
    assert len(dense) == 3
    r = run("migrate", "search", tmp_path / "mig", "zebra giraffe", "--mode", "lexical")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["id"] == "zebra"
    assert_one_line_error(run("migrate", "search", tmp_path / "mig", "x", "--alpha", "7"), "alpha")
