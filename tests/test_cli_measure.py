"""``repspace inspect`` and ``repspace compare`` from the command line: output, reports, and bad
input as one line on stderr with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line_error, run
from repspace import Space
from repspace.space import SpaceWriter


def make_space(path: Path, n: int = 60, dim: int = 8, seed: int = 0, prefix: str = "d") -> Path:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    ids = [f"{prefix}{i}" for i in range(n)]
    kinds = ["even" if i % 2 == 0 else "odd" for i in range(n)]
    texts = [f"document {i}" for i in range(n)]
    Space.from_arrays(path, ids, x, columns={"text": texts, "kind": kinds})
    return path


def test_inspect_prints_table_json_and_report(tmp_path: Path) -> None:
    space = make_space(tmp_path / "s")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("d0,d1\nd2,d3\n", encoding="utf-8")
    report = tmp_path / "out" / "report.html"
    result = run("inspect", space, "--report", report, "--color-by", "kind", "--pairs", pairs)
    assert result.returncode == 0, result.stderr
    for text in ("RankMe (effective rank)", "IsoScore", "Alignment", "all 60 rows", "top hubs"):
        assert text in result.stdout
    assert f"report: {report}" in result.stdout and report.is_file()
    assert ">even<" in report.read_text(encoding="utf-8")

    data = json.loads(run("inspect", space, "--json", "--sample", "20", "--k", "5").stdout)
    assert data["kind"] == "inspect" and "figures" not in data and data["report"] is None
    assert data["params"] == {**data["params"], "sample": 20, "k": 5}
    assert data["scope"]["hubness_skewness"].startswith("uniform sample of 20 of 60 rows")
    assert data["details"]["top_hubs"][0]["text"].startswith("document ")


@pytest.mark.slow
def test_compare_two_and_three_spaces(tmp_path: Path) -> None:
    a = make_space(tmp_path / "a", dim=8)
    b = make_space(tmp_path / "b", dim=5, seed=1)
    result = run("compare", a, b, "--report", tmp_path / "c.html", "--debiased")
    assert result.returncode == 0, result.stderr
    assert "joined on ids: 60 shared rows" in result.stdout
    for text in ("Linear CKA", "Linear CKA (debiased)", "Mutual kNN", "SVCCA", "RSA", "Procrustes"):
        assert text in result.stdout
    assert (tmp_path / "c.html").is_file()
    data = json.loads(run("compare", a, b, a, "--json").stdout)
    assert data["shared"] == 60 and len(data["pairs"]) == 3
    assert np.array(data["metrics"]["linear_cka"]).shape == (3, 3)
    assert "Linear CKA (all 60 shared rows)" in run("compare", a, b, a).stdout


@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    """The issue's list; flags naming missing columns/ids are covered through the API."""
    good = make_space(tmp_path / "good")
    # NaN in a shard written behind repspace's back (the writer refuses them)
    make_space(tmp_path / "nan")
    vectors = np.load(tmp_path / "nan" / "shards" / "00000.npy")
    vectors[7, 3] = np.nan
    np.save(tmp_path / "nan" / "shards" / "00000.npy", vectors)
    assert_one_line_error(run("inspect", tmp_path / "nan"), "00000.npy: checksum mismatch")
    nan = run("inspect", tmp_path / "nan", "--no-verify")  # the values are checked too
    assert_one_line_error(nan, "NaN or infinity", "id 'd7'")
    # a zero vector, and fewer than 3 rows, imported the normal way
    zero = np.ones((4, 3), dtype=np.float32)
    zero[1] = 0
    Space.from_arrays(tmp_path / "zero", ["a", "b", "c", "d"], zero)
    assert_one_line_error(run("inspect", tmp_path / "zero"), "zero vectors", "id 'b'")
    Space.from_arrays(tmp_path / "two", ["a", "b"], np.eye(2, dtype=np.float32))
    assert_one_line_error(run("inspect", tmp_path / "two"), "2 rows", "at least 3")
    # a space still being built
    writer = SpaceWriter.create(
        tmp_path / "building", dim=3, fingerprint="x", encoder=None, columns=["id"], params={}
    )
    writer.add_shard(["a", "b", "c"], np.eye(3), {})
    assert_one_line_error(run("compare", good, tmp_path / "building"), "still building")
    # no shared ids
    other = make_space(tmp_path / "other", prefix="x")
    assert_one_line_error(run("compare", good, other), "share no ids")


@pytest.mark.slow
def test_inspect_real_minilm_space(tmp_path: Path, minilm) -> None:
    """A real encoder's space: MiniLM vectors are unit-norm and anisotropic, and near-identical
    texts come out as near-duplicates."""
    import repspace
    from helpers import synthetic_docs, write_jsonl

    docs = synthetic_docs(300)
    docs[5]["text"] = docs[4]["text"] + " ."
    corpus = write_jsonl(tmp_path / "c.jsonl", docs)
    space = repspace.encode(corpus, minilm, tmp_path / "s", progress=False)
    result = repspace.inspect(space)
    m = result.metrics
    assert m["norm_mean"] == pytest.approx(1.0, abs=1e-4) and m["norm_cv"] < 1e-4
    assert 0.05 < m["mean_cosine"] < 0.95 and 1 < m["rankme"] < 300
    assert m["near_duplicate_share"] >= 2 / 300
