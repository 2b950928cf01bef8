"""``repspace compress`` (maps, compressed spaces, rate–quality curve with and without a task),
``repspace export st`` (checked against the real MiniLM), and bad input as one-line errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

import repspace
from helpers import WORDS, assert_one_line_error, run, write_jsonl
from repspace import RepspaceError, Space
from repspace.maps import Chain, load_map, make_map
from repspace.maps.compression import compress, parse_method


def papers(n: int = 120, seed: int = 0) -> list[dict[str, str]]:
    """Records with a title and a body sharing some words: a title -> body task."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = rng.sample(WORDS, 4)
        body = " ".join(rng.choices(topic, k=12) + rng.choices(WORDS, k=20))
        rows.append({"id": f"p{i}", "title": " ".join(topic[:3]), "text": body})
    return rows


@pytest.fixture
def task_space(tmp_path: Path) -> tuple[Path, Path]:
    from repspace.evaluation.generators import make_task

    corpus = write_jsonl(tmp_path / "papers.jsonl", papers())
    make_task(corpus, "title-body", tmp_path / "task")
    repspace.encode(
        tmp_path / "task" / "corpus.jsonl", "hash:64", tmp_path / "space", id_field="_id",
        progress=False,
    )  # fmt: skip
    return tmp_path / "task", tmp_path / "space"


def test_compress_with_task_writes_maps_spaces_and_curve(
    task_space: tuple[Path, Path], tmp_path: Path
) -> None:
    task, space = task_space
    result = compress(
        space, "pca", "16,32", tmp_path / "maps", task=task, apply=tmp_path / "small",
        params=None,
    )  # fmt: skip
    for d in (16, 32):
        m = load_map(tmp_path / "maps" / str(d))
        assert m.output_dim_ == d and m.source_fingerprint_ == Space.open(space).fingerprint
        s = Space.open(tmp_path / "small" / str(d))
        assert s.dim == d and s.manifest["transforms"][0]["kind"] == "pca"
    curve = json.loads((tmp_path / "maps" / "rate_quality.json").read_text())
    assert curve["quality"] == "nDCG@10 on task" and 0 < curve["full"]["quality"] <= 1
    methods = {(p["method"], p["dims"]): p for p in curve["points"]}
    assert set(methods) == {
        (m, d) for m in ("truncate", "pca", "pca+int8", "pca+binary") for d in (16, 32)
    }
    assert methods[("pca", 32)]["bytes"] == 128 and methods[("pca+int8", 32)]["bytes"] == 32
    assert methods[("pca+binary", 16)]["bytes"] == 2
    assert curve["rerank"][0]["shortlist"] == 100
    # The curve agrees with scoring the saved map directly.
    assert result.curve["points"] == curve["points"]
    html = (tmp_path / "maps" / "rate_quality.html").read_text()
    assert "<svg" in html and "pca+binary" in html and "<script" not in html


@pytest.mark.slow
def test_neighbour_recall_curve_and_adaptor(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((48, 48)))[0][:8]
    x = (rng.standard_normal((600, 8)) * np.linspace(3, 1, 8)) @ basis
    x += 0.05 * rng.standard_normal(x.shape)
    space = Space.from_arrays(tmp_path / "s", [f"r{i}" for i in range(600)], x.astype(np.float32))
    result = compress(
        space, "matryoshka", [8, 16], tmp_path / "m", sample=200,
        params={"steps": 60, "seed": 0},
    )  # fmt: skip
    curve = result.curve
    assert curve["quality"] == "recall@10 of full-dimension neighbours"
    assert curve["full"]["quality"] == 1.0
    q = {(p["method"], p["dims"]): p["quality"] for p in curve["points"]}
    # On data whose variance is spread over rotated coordinates, PCA and the adaptor keep far
    # more of the neighbourhoods than truncation.
    assert q[("pca", 8)] > q[("truncate", 8)] + 0.2
    assert q[("matryoshka", 8)] > q[("truncate", 8)] + 0.2
    assert isinstance(load_map(tmp_path / "m" / "8"), type(make_map("matryoshka")))


def test_method_strings() -> None:
    assert parse_method("int8") == ("truncate", "int8")
    assert parse_method("matryoshka+binary") == ("matryoshka", "binary")
    for bad in ("zip", "pca+zip", "int8+pca", "pca+int8+binary"):
        with pytest.raises(RepspaceError, match="unknown method"):
            parse_method(bad)


def test_nothing_to_do_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RepspaceError, match="nothing to do"):
        compress(tmp_path / "no-space", "pca", curve=False)


@pytest.mark.slow
def test_cli_compress_apply_force_and_errors(task_space: tuple[Path, Path], tmp_path: Path) -> None:
    task, space = task_space
    result = run("compress", space, "--method", "truncate+binary", "--dims", "32", "--task", task,
                 "--out", tmp_path / "map", "--apply", tmp_path / "bin")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "nDCG@10 on task" in result.stdout and "truncate+binary" in result.stdout
    assert (tmp_path / "map" / "map.json").is_file() and Space.open(tmp_path / "bin").dim == 32

    assert_one_line_error(
        run("compress", space, "--dims", "32,128", "--out", tmp_path / "x"),
        "dims 128", "at most 64",
    )  # fmt: skip
    other = Space.from_arrays(
        tmp_path / "other", ["a", "b", "c"], np.eye(3, 64, dtype=np.float32), model="other"
    )
    assert_one_line_error(
        run("compress", other.path, "--map", tmp_path / "map", "--apply", tmp_path / "o"),
        "differs from the space this map was fitted on", "--force",
    )  # fmt: skip
    forced = run("compress", other.path, "--map", tmp_path / "map", "--apply", tmp_path / "o",
                 "--force")  # fmt: skip
    assert forced.returncode == 0, forced.stderr and Space.open(tmp_path / "o").n == 3
    assert_one_line_error(run("compress", space, "--method", "zip"), "unknown method")
    assert_one_line_error(
        run("export", "st", "--encoder", "hash:64", "--map", tmp_path / "map", "--out",
            tmp_path / "e"),
        "sentence-transformers encoder",
    )  # fmt: skip


@pytest.mark.slow
def test_export_st_reproduces_repspace_vectors(minilm, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from repspace.maps.export import export_sentence_transformers

    texts = [" ".join(random.Random(i).choices(WORDS, k=12)) for i in range(200)]
    vectors = minilm.encode(texts)
    space = Space.from_arrays(tmp_path / "s", [f"t{i}" for i in range(200)], vectors)
    space.manifest["fingerprint"] = minilm.fingerprint  # as if encoded by repspace encode
    probe = ["a query about vector spaces", "shard the index", "Matryoshka embeddings"]
    expected_full = minilm.encode(probe)
    # An alignment map too: CCA (an affine map like Procrustes/linear/affine) onto a 24-dim
    # target space of the same texts.
    rng = np.random.default_rng(0)
    target = np.tanh(vectors @ rng.normal(size=(384, 24))) + 0.01 * rng.normal(size=(200, 24))
    maps = {
        "pca": make_map("pca", dim=64, whiten=True).fit(space),
        "adaptor": make_map("matryoshka", dim=48, steps=30).fit(space),
        "chain": Chain([make_map("pca", dim=128), make_map("truncate", dim=32)]).fit(space),
        "cca": make_map("cca", n_components=16).fit(space, target),
    }
    for name, m in maps.items():
        out = export_sentence_transformers(minilm, m, tmp_path / name)
        model = SentenceTransformer(str(out), device="cpu")  # plain loading, offline
        got = model.encode(probe, convert_to_numpy=True)
        assert got.shape == (3, m.output_dim_)
        np.testing.assert_allclose(got, m.transform(expected_full), atol=1e-5, rtol=0)
    with pytest.raises(RepspaceError, match="cannot be exported"):
        export_sentence_transformers(
            minilm, make_map("binary").fit(space), tmp_path / "b", force=True
        )
