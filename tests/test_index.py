from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import repspace
from helpers import assert_one_line_error as one_line_error
from helpers import run, synthetic_docs, write_jsonl
from repspace import RepspaceError, Space
from repspace.fsio import write_format_json
from repspace.index import Index
from repspace.index.projection import CACHE, projection

KINDS = ("alpha", "beta", "gamma")


def docs(n: int) -> list[dict[str, object]]:
    rows = synthetic_docs(n)
    for i, row in enumerate(rows):
        row["kind"] = "rare" if i % 97 == 5 else KINDS[i % 3]
        row["year"] = 2000 + i % 4
    return rows


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Space:
    root = tmp_path_factory.mktemp("index-space")
    corpus = write_jsonl(root / "docs.jsonl", docs(1200))
    return repspace.encode(
        corpus, "hash:64", root / "space", fields=["kind", "year"], progress=False, shard_size=500
    )


@pytest.fixture(scope="module")
def index(space: Space, tmp_path_factory: pytest.TempPathFactory) -> Index:
    return Index.build(space, tmp_path_factory.mktemp("ix") / "index", progress=False)


def exact_top(space: Space, query: np.ndarray, k: int, mask: np.ndarray | None = None) -> list:
    sims = np.asarray(space.vectors) @ query
    if mask is not None:
        sims = np.where(mask, sims, -np.inf)
    return [space.ids[i] for i in np.argsort(-sims)[:k]]


def test_manifest_records_fingerprints_and_checksums(index: Index, space: Space) -> None:
    m = json.loads((index.path / "manifest.json").read_text())
    assert m["format"] == "repspace.index" and m["n"] == space.n == 1200
    assert m["fingerprint"] == space.fingerprint == m["encoder"]["fingerprint"]
    assert m["encoder"]["spec"] == "hash:64"
    assert m["space"]["fingerprint"] == space.fingerprint and len(m["space"]["digest"]) == 64
    assert set(m["sha256"]) == set(m["files"].values())
    assert (index.path / m["files"]["ann"]).is_file() and m["maps"] == []
    info = index.info()  # what /spaces shows
    assert (info.n, info.dim, info.encoder, info.space) == (1200, 64, "hash:64", m["space"]["path"])
    assert list(info.to_dict()) == [
        "path", "n", "dim", "dtype", "exact", "encoder", "fingerprint", "space", "columns",
        "lexical", "mode",
    ]  # fmt: skip


def test_search_matches_exact_search(index: Index, space: Space) -> None:
    encoder = repspace.load_encoder("hash:64")
    queries = ["vector space model", "cosine matrix", "token corpus shard", "language document"]
    overlap = []
    for q in queries:
        hits = index.search(q, k=10, mode="dense")
        assert len(hits) == 10 and all(-1 <= h.score <= 1 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        truth = exact_top(space, encoder.encode([q])[0], 10)
        overlap.append(len({h.id for h in hits} & set(truth)) / 10)
        exact = index.search(q, k=10, exact=True, mode="dense")
        assert [h.id for h in exact][:3] == truth[:3]
    assert np.mean(overlap) >= 0.9
    hit = index.search(queries[0], k=1)[0]
    assert hit.text and hit.fields["kind"] in (*KINDS, "rare")


def test_filtered_search_returns_k_matching_rows(index: Index, space: Space) -> None:
    encoder = repspace.load_encoder("hash:64")
    kinds = np.array(space.table(["kind"]).column("kind").to_pylist())
    q = "vector space model"
    for kind in ("alpha", "rare"):  # a common field value (oversampling) and a rare one (exact)
        hits = index.search(q, k=10, filters={"kind": kind}, mode="dense")
        assert len(hits) == 10 and {h.fields["kind"] for h in hits} == {kind}
        truth = exact_top(space, encoder.encode([q])[0], 10, kinds == kind)
        assert len({h.id for h in hits} & set(truth)) >= 8
    hits = index.search(q, k=5, filters={"kind": "beta", "year": "2001"})
    assert len(hits) == 5 and all(h.fields["year"] == 2001 for h in hits)
    assert index.search(q, k=5, filters={"kind": "nothing"}) == []
    with pytest.raises(RepspaceError, match="filterable fields are kind, year"):
        index.search(q, filters={"text": "x"})


def test_bad_queries_and_k(index: Index) -> None:
    with pytest.raises(RepspaceError, match="query is empty"):
        index.search("   ")
    for k in (0, -3):
        with pytest.raises(RepspaceError, match="positive integer"):
            index.search("vector", k=k)
    with pytest.raises(RepspaceError, match="too large"):
        index.search("vector", k=10**9)
    assert len(index.search("vector", k=5000)) <= 1200
    with pytest.raises(RepspaceError, match="positive integer"):  # k first: no encoding
        index.search("   ", k=0)


def test_hnsw_parameters_are_checked(space: Space, tmp_path: Path) -> None:
    for bad in ({"connectivity": 1}, {"expansion_add": 0}, {"expansion_search": 1}):
        with pytest.raises(RepspaceError, match="--expansion-search must be >= 2"):
            Index.build(space, tmp_path / "ix", progress=False, **bad)
    assert not (tmp_path / "ix").exists()


def test_foreign_query_vectors_are_refused(index: Index) -> None:
    own = repspace.load_encoder("hash:64")
    other = repspace.load_encoder("hash:32")
    vector = own.encode(["vector space"])[0]
    assert index.search(vector, k=3, fingerprint=own.fingerprint)[0].id
    with pytest.raises(RepspaceError, match="another encoder"):
        index.search(vector, k=3, fingerprint="0" * 64)
    with pytest.raises(RepspaceError, match="fingerprint"):
        index.search(vector, k=3)
    with pytest.raises(RepspaceError, match="32 values"):
        index.search(other.encode(["x"])[0], fingerprint=other.fingerprint)


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_compact_storage_keeps_the_neighbours(space: Space, tmp_path: Path, dtype: str) -> None:
    index = Index.build(space, tmp_path / dtype, dtype=dtype, progress=False)
    reopened = Index.open(tmp_path / dtype)
    assert reopened.manifest["dtype"] == dtype
    encoder = repspace.load_encoder("hash:64")
    q = "retrieval embedding cosine"
    truth = exact_top(space, encoder.encode([q])[0], 10)
    assert len({h.id for h in reopened.search(q, k=10, mode="dense")} & set(truth)) >= 8
    assert index.neighbors(space.ids[0], k=5)[0].id != space.ids[0]


def test_add_and_delete_are_durable(space: Space, tmp_path: Path) -> None:
    path = tmp_path / "ix"
    index = Index.build(space, path, progress=False)
    first = index.manifest["files"]
    index.add(["new-1", "new-2"], texts=["zebra giraffe savanna", "quantum chromodynamics"],
              columns={"kind": ["animal", "physics"]})  # fmt: skip
    index.delete(["doc-0", "doc-1"])
    reopened = Index.open(path)
    assert reopened.n == 1200 and "doc-0" not in reopened.ids and "new-1" in reopened.ids
    hit = reopened.search("zebra giraffe savanna", k=1)[0]
    assert hit.id == "new-1" and hit.fields["kind"] == "animal"
    assert reopened.search("zebra", k=3, filters={"kind": "physics"})[0].id == "new-2"
    assert all(h.id != "doc-0" for h in reopened.search(space.texts[0], k=20, exact=True))
    # old generation files are gone, the new ones are checksummed
    names = {p.name for p in path.iterdir()}
    assert not names & set(first.values()) and set(reopened.manifest["files"].values()) <= names
    # vectors from the right encoder are accepted; another fingerprint and duplicates are not
    enc = repspace.load_encoder("hash:64")
    reopened.add(["vec-1"], enc.encode(["a b c"]), fingerprint=enc.fingerprint)
    assert Index.open(path).search("a b c", k=1)[0].id == "vec-1"
    with pytest.raises(RepspaceError, match="another encoder"):
        reopened.add(["vec-2"], enc.encode(["a"]), fingerprint="f" * 64)
    with pytest.raises(RepspaceError, match="already in the index"):
        reopened.add(["new-1"], texts=["again"])
    with pytest.raises(RepspaceError, match="no id 'missing'"):
        reopened.delete(["missing"])
    assert Index.open(path).n == 1201


def test_missing_corrupt_and_wrong_encoder_files(space: Space, tmp_path: Path) -> None:
    path = tmp_path / "ix"
    Index.build(space, path, progress=False)
    m = json.loads((path / "manifest.json").read_text())
    rows = path / m["files"]["rows"]
    data = bytearray(rows.read_bytes())
    data[len(data) // 2] ^= 0xFF
    rows.write_bytes(bytes(data))
    with pytest.raises(RepspaceError, match="checksum mismatch"):
        Index.open(path)
    rows.unlink()
    with pytest.raises(RepspaceError, match="index file missing"):
        Index.open(path)
    with pytest.raises(RepspaceError, match="no such index directory"):
        Index.open(tmp_path / "nowhere")
    with pytest.raises(RepspaceError, match="not a repspace index"):
        Index.open(space.path)
    # an index whose recorded encoder differs from the one this machine builds
    other = tmp_path / "ix2"
    Index.build(space, other, progress=False)
    m = json.loads((other / "manifest.json").read_text())
    m["fingerprint"] = m["encoder"]["fingerprint"] = "e" * 64
    write_format_json(other / "manifest.json", m)
    with pytest.raises(RepspaceError, match="install the same model or rebuild"):
        Index.open(other).search("vector")
    with pytest.raises(RepspaceError, match="directory is not empty; pass --overwrite"):
        Index.build(space, other, progress=False)
    with pytest.raises(RepspaceError, match="not a repspace index"):
        Index.build(space, space.path, progress=False, overwrite=True)


def test_projection_is_cached_and_colourable(index: Index) -> None:
    result = projection(index, sample=300)
    assert len(result["x"]) == len(result["y"]) == len(result["ids"]) == 300
    assert set(result["fields"]) == {"kind", "year"} and len(result["texts"]) == 300
    assert (index.path / CACHE).is_file()
    assert projection(index, sample=300) == result


@pytest.mark.slow
def test_cli_index_search_and_errors(space: Space, tmp_path: Path) -> None:
    out = tmp_path / "ix"
    built = run("index", space.path, "--out", out, "--dtype", "f16", "--quiet")
    assert built.returncode == 0, built.stderr
    assert "1,200 rows" in built.stdout
    result = run("search", out, "vector space", "-k", "4", "--filter", "kind=beta", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 4 and {h["fields"]["kind"] for h in hits} == {"beta"}
    plain = run("search", out, "vector space", "-k", "2")
    assert plain.returncode == 0 and "doc-" in plain.stdout
    one_line_error(run("search", out, "", "-k", "3"), "query is empty")
    one_line_error(run("search", out, "x", "-k", "0"), "positive integer")
    one_line_error(run("search", out, "x", "-k", "100000"), "too large")
    one_line_error(run("search", out, "x", "--filter", "kind"), "field=value")
    one_line_error(run("search", out, "x", "--filter", "nope=1"), "cannot filter on 'nope'")
    one_line_error(run("search", tmp_path / "none", "x"), "no such index directory")
    one_line_error(run("index", space.path, "--out", out), "not empty; pass --overwrite")
    m = json.loads((out / "manifest.json").read_text())
    (out / m["files"]["ann"]).write_bytes(b"garbage")
    one_line_error(run("search", out, "x"), "checksum mismatch")


def test_shortlist_then_rerank_option(index: Index, space: Space) -> None:
    """The compression issue's shortlist-then-rerank search, as a search mode of the index."""
    encoder = repspace.load_encoder("hash:64")
    q = "vector space model"
    truth = exact_top(space, encoder.encode([q])[0], 10)
    binary = index.search(q, k=10, rerank="binary", shortlist=200)
    assert len(binary) == 10 and len({h.id for h in binary} & set(truth)) >= 7
    full = index.search(q, k=10, rerank=64, shortlist=10)  # all dims: exact on the shortlist
    assert [h.id for h in full] == truth
    assert [h.score for h in binary] == sorted((h.score for h in binary), reverse=True)
    with pytest.raises(RepspaceError, match="prefix dimension"):
        index.search(q, rerank="ternary")
    with pytest.raises(RepspaceError, match="shortlist 5"):
        index.search(q, k=10, rerank="binary", shortlist=5)
    with pytest.raises(RepspaceError, match="filters"):
        index.search(q, rerank="binary", filters={"kind": "alpha"})
