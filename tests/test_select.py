"""``repspace select``: DSIR features, weights and resampling checked against the reference
package (``data-selection``), deduplication, the output directory, bad input."""

from __future__ import annotations

import inspect
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, run, write_jsonl
from repspace import RepspaceError, select
from repspace.selection import dedup as dd
from repspace.selection import pipeline
from repspace.selection.features import doc_ngram_counts, ngram_counts, tokenize
from repspace.selection.resample import SELECTION, TopK, gumbel_noise, gumbel_top_k, id_hashes
from repspace.selection.weights import ImportanceModel, kl_divergence, log_weights

ML = [
    "neural", "network", "training", "gradient", "descent", "loss", "model", "layer", "embedding",
    "transformer", "attention", "optimizer", "batch", "learning", "rate", "representation",
    "encoder", "decoder",
]  # fmt: skip
FOOD = [
    "recipe", "cook", "oven", "flour", "sugar", "butter", "bake", "dinner", "salt", "pepper",
    "garlic", "onion", "soup",
]  # fmt: skip
SPORT = [
    "football", "match", "goal", "team", "league", "player", "coach", "season", "score", "win",
    "referee",
]  # fmt: skip
FUNCTION = [
    "the", "of", "and", "to", "in", "a", "is", "for", "on", "with", "as", "by", "that", "this",
    "from", "at", "are", "be", "or", "an",
]  # fmt: skip
TRICKY = [
    "Hello, World!! It's  a test...  naïve café — über 3.14",
    "one",
    "ÄÖÜ straße e\u0301 tab\tnew\nline",
    "¿Qué? 中文 文本 😀😀 a_b",
    "İstanbul ΣΑΣ",
    "x \x00 y",
    "--- ### ...",
]


def _doc(rng: random.Random, words: list[str], n: int | None = None) -> str:
    return " ".join(rng.choices(words, k=n or rng.randint(6, 30))) + "."


def make_fixture(tmp: Path, n_pool: int = 600, seed: int = 0) -> tuple[Path, Path]:
    """A target of ML text; a pool with a third ML, a third food, a third sport. Documents of
    6-30 words: selecting from this pool takes ``min_tokens=0`` (the default, 100, skips them)."""
    rng = random.Random(seed)
    target = write_jsonl(
        tmp / "target.jsonl", [{"id": f"t{i}", "text": _doc(rng, ML)} for i in range(80)]
    )
    domains = [ML, FOOD, SPORT]
    pool = write_jsonl(
        tmp / "pool.jsonl",
        [
            {"id": f"p{i}", "text": _doc(rng, domains[i % 3]), "domain": i % 3}
            for i in range(n_pool)
        ],
    )
    return target, pool


def selected_rows(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "selected.jsonl").read_text("utf-8").splitlines()]


# ----------------------------------------------------------------------------- features
def test_tokens_and_bucket_counts_equal_the_reference() -> None:
    hashed = pytest.importorskip("data_selection.hashed_ngram_dsir")
    rng = random.Random(1)
    texts = TRICKY + [_doc(rng, ML + FOOD + [",", "!", "'s"]) for _ in range(50)]
    for t in texts:
        assert tokenize(t) == hashed.wpt.tokenize(t.lower())
    ours = doc_ngram_counts(texts)
    ref = np.stack([hashed.get_ngram_counts(t) for t in texts])
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(ngram_counts(texts), ref.sum(0))
    # a chunk holding the separator token on its own takes the per-document path
    np.testing.assert_array_equal(doc_ngram_counts(["\x00", "a b"]), ref[:0].sum(0) + np.stack(
        [hashed.get_ngram_counts("\x00"), hashed.get_ngram_counts("a b")]
    ))  # fmt: skip


def test_log_weights_and_selection_agree_with_the_reference(tmp_path: Path) -> None:
    pytest.importorskip("data_selection")
    from data_selection import HashedNgramDSIR

    target, pool = make_fixture(tmp_path)
    dsir = HashedNgramDSIR(
        [str(pool)], [str(target)], cache_dir=str(tmp_path / "cache"), num_proc=1,
        min_example_length=0,
    )  # fmt: skip
    dsir.fit_importance_estimator(num_tokens_to_fit="all")
    dsir.compute_importance_weights()
    ref_weights = np.load(tmp_path / "cache" / "log_importance_weights" / "0.npy")

    result = select(target, pool, 100, tmp_path / "out", dedup="none", min_tokens=0, progress=False)
    table = pq.read_table(tmp_path / "out" / "weights.parquet").to_pydict()
    np.testing.assert_allclose(table["log_weight"], ref_weights, rtol=1e-9, atol=1e-9)
    assert table["id"] == [f"p{i}" for i in range(600)]
    assert sum(table["selected"]) == 100
    # the same pool model: the reference's log ratio per bucket
    texts = [json.loads(x)["text"] for x in target.read_text("utf-8").splitlines()]
    pool_texts = [json.loads(x)["text"] for x in pool.read_text("utf-8").splitlines()]
    model = ImportanceModel(ngram_counts(texts), ngram_counts(pool_texts))
    np.testing.assert_allclose(model.log_diff, dsir.log_diff, rtol=1e-12)
    # both select the in-domain third, up to the Gumbel noise
    domains = [r["domain"] for r in selected_rows(tmp_path / "out")]
    assert domains.count(0) >= 95
    assert len(result.selected_ids) == 100
    ranks = np.argsort(-ref_weights)[:150]
    assert all(int(i) % 3 == 0 for i in ranks)


def _mixture(rng: random.Random, n: int, parts: list[tuple[float, list[str]]]) -> str:
    """``n`` words, each from one of the vocabularies with the given probabilities."""
    shares, vocabs = zip(*parts, strict=True)
    return " ".join(rng.choice(rng.choices(vocabs, shares)[0]) for _ in range(n)) + "."


def test_min_tokens_default_is_the_reference_filter(tmp_path: Path) -> None:
    """The default (100) and the token count are the reference's ``min_example_length``: short
    documents keep their weights (and count in the pool model) but are never candidates."""
    pytest.importorskip("data_selection")
    from data_selection import HashedNgramDSIR

    ref_default = inspect.signature(HashedNgramDSIR).parameters["min_example_length"].default
    assert inspect.signature(select).parameters["min_tokens"].default == ref_default == 100
    rng = random.Random(8)
    target = write_jsonl(
        tmp_path / "t.jsonl", [{"text": _doc(rng, [*ML, ",", "'s"], 120)} for _ in range(30)]
    )
    texts = [_doc(rng, [*ML, *FOOD, ",", "'s", "!"], rng.randint(85, 110)) for _ in range(120)]
    texts += TRICKY  # all short
    pool = write_jsonl(
        tmp_path / "p.jsonl", [{"id": f"p{i}", "text": t} for i, t in enumerate(texts)]
    )
    dsir = HashedNgramDSIR([str(pool)], [str(target)], cache_dir=str(tmp_path / "c"), num_proc=1)
    dsir.fit_importance_estimator(num_tokens_to_fit="all")
    dsir.compute_importance_weights()
    ref_long = np.load(tmp_path / "c" / "perexample_metadata" / "0.npy") >= ref_default
    assert ref_long.tolist() == [len(tokenize(t)) >= 100 for t in texts]
    assert 20 < ref_long.sum() < 100  # both sides of the boundary

    result = select(target, pool, 20, tmp_path / "out", dedup="none", progress=False)
    table = pq.read_table(tmp_path / "out" / "weights.parquet").to_pydict()
    ref_weights = np.load(tmp_path / "c" / "log_importance_weights" / "0.npy")
    np.testing.assert_allclose(table["log_weight"], ref_weights, rtol=1e-9, atol=1e-9)
    assert result.report["pool"]["too_short"] == int((~ref_long).sum())
    assert result.report["pool"]["candidates"] == int(ref_long.sum())
    assert all(ref_long[int(i[1:])] for i in result.selected_ids)


def test_default_min_tokens_keeps_short_distractors_out(tmp_path: Path) -> None:
    """Planted test (issue 19): long target-like documents among short and long off-topic ones.
    A short document's log weight is near 0, so with ``min_tokens=0`` Gumbel noise lifts many
    over the weakly target-like planted ones; the default (the reference's 100) does not."""
    rng = random.Random(0)
    target = [_mixture(rng, rng.randint(120, 220), [(0.3, ML), (0.7, FUNCTION)]) for _ in range(80)]
    pool = []
    for i in range(100):  # planted: long, weakly target-like (10-30% of the words ML)
        f = rng.uniform(0.1, 0.3)
        text = _mixture(rng, rng.randint(110, 220), [(f, ML), (0.05, FOOD), (0.95 - f, FUNCTION)])
        pool.append({"id": f"plant{i}", "text": text})
    for i in range(2000):  # short off-topic distractors: 2-12 words
        text = _mixture(rng, rng.randint(2, 12), [(0.15, FOOD), (0.85, FUNCTION)])
        pool.append({"id": f"short{i}", "text": text})
    for i in range(600):  # long off-topic documents
        text = _mixture(rng, rng.randint(110, 300), [(0.4, FOOD), (0.6, FUNCTION)])
        pool.append({"id": f"long{i}", "text": text})
    rng.shuffle(pool)
    t = write_jsonl(tmp_path / "t.jsonl", [{"text": x} for x in target])
    p = write_jsonl(tmp_path / "p.jsonl", pool)

    def planted(**opts: int) -> float:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        ids = select(t, p, 100, out, progress=False, **opts).selected_ids
        return sum(i.startswith("plant") for i in ids) / 100

    default, keep_short = planted(), planted(min_tokens=0)
    assert default >= 0.95, default
    assert keep_short <= 0.8, keep_short


def test_log_weights_are_chunk_independent() -> None:
    rng = random.Random(2)
    texts = [_doc(rng, ML + FOOD) for _ in range(40)] + TRICKY
    log_diff = np.random.default_rng(0).standard_normal(10_000)
    whole, lengths = log_weights(texts, log_diff)
    parts = np.concatenate([log_weights(texts[i : i + 7], log_diff)[0] for i in range(0, 47, 7)])
    np.testing.assert_allclose(whole, parts)
    dense = doc_ngram_counts(texts) @ log_diff
    np.testing.assert_allclose(whole, dense)
    assert lengths[TRICKY.index("one") + 40] == 1


# ----------------------------------------------------------------------------- resampling
def test_gumbel_top_k_samples_proportionally_to_the_weights() -> None:
    """With k = 1, the Gumbel-max trick draws document i with probability softmax(w)_i."""
    w = np.log(np.array([1.0, 2.0, 3.0, 4.0]))
    ids = id_hashes(["a", "b", "c", "d"])
    wins = np.bincount([gumbel_top_k(w, ids, 1, seed)[0] for seed in range(4000)], minlength=4)
    np.testing.assert_allclose(wins / 4000, [0.1, 0.2, 0.3, 0.4], atol=0.03)


def test_top_k_streaming_equals_one_shot_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal(1000)
    hashes = id_hashes([f"id{i}" for i in range(1000)])
    one_shot = gumbel_top_k(w, hashes, 50, seed=7)
    top = TopK(50)
    keys = w + gumbel_noise(hashes, 7, SELECTION)
    for s in range(0, 1000, 33):
        top.push(keys[s : s + 33], hashes[s : s + 33], np.arange(s, min(s + 33, 1000)))
    np.testing.assert_array_equal(top.result()[0], one_shot)
    assert set(gumbel_top_k(w, hashes, 50, seed=8)) != set(one_shot)


@pytest.mark.slow
def test_selection_does_not_depend_on_chunks_or_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target, pool = make_fixture(tmp_path)
    opts = {"min_tokens": 0, "progress": False}
    a = select(target, pool, 50, tmp_path / "a", chunk_size=7, seed=3, **opts)
    b = select(target, pool, 50, tmp_path / "b", chunk_size=1000, seed=3, **opts)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    c = select(target, pool, 50, tmp_path / "c", chunk_size=64, jobs=2, seed=3, **opts)
    assert c.report["params"]["jobs"] == 2
    assert a.selected_ids == b.selected_ids == c.selected_ids
    assert (tmp_path / "a" / "weights.parquet").read_bytes() == (
        tmp_path / "c" / "weights.parquet"
    ).read_bytes()
    d = select(target, pool, 50, tmp_path / "d", seed=4, **opts)
    assert d.selected_ids != a.selected_ids


# ----------------------------------------------------------------------------- KL reduction
def test_kl_reduction_is_positive_for_a_matching_selection(tmp_path: Path) -> None:
    target, pool = make_fixture(tmp_path)
    report = select(target, pool, 100, tmp_path / "out", min_tokens=0, progress=False).report
    kl = report["kl"]
    assert kl["kl_target_selected"] < kl["kl_target_random"]
    assert kl["kl_reduction"] == pytest.approx(kl["kl_target_random"] - kl["kl_target_selected"])
    assert kl["kl_reduction"] > 0.3
    # KL of identical bags is 0; of disjoint ones large
    c = np.array([3, 1, 0, 0])
    assert kl_divergence(c, c) == pytest.approx(0.0, abs=1e-9)
    assert kl_divergence(c, np.array([0, 0, 1, 1])) > 10


# ----------------------------------------------------------------------------- dedup
def test_exact_and_near_duplicates_are_dropped_and_counted(tmp_path: Path) -> None:
    rng = random.Random(5)
    target = write_jsonl(tmp_path / "t.jsonl", [{"text": _doc(rng, ML)} for _ in range(30)])
    base = [_doc(rng, ML + FOOD, 40) for _ in range(60)]
    rows = [{"id": f"u{i}", "text": t} for i, t in enumerate(base)]
    rows += [{"id": f"x{i}", "text": "  " + base[i].upper() + " "} for i in range(5)]  # exact
    for i in range(5, 12):  # one word appended to 41 tokens: Jaccard of 3-shingles 0.975
        rows.append({"id": f"n{i}", "text": base[i] + " zebra"})
    pool = write_jsonl(tmp_path / "p.jsonl", rows)
    opts = {"min_tokens": 0, "progress": False}
    exact = select(target, pool, 10, tmp_path / "e", dedup="exact", **opts).report
    assert exact["pool"]["duplicates"] == {"exact": 5, "near": 0}
    near = select(target, pool, 10, tmp_path / "n", dedup="near", **opts).report
    assert near["pool"]["duplicates"]["exact"] == 5
    assert near["pool"]["duplicates"]["near"] == 7
    assert near["pool"]["candidates"] == 60
    table = pq.read_table(tmp_path / "n" / "weights.parquet").to_pydict()
    dropped = {i for i, w in zip(table["id"], table["log_weight"], strict=True) if w is None}
    assert dropped == {f"x{i}" for i in range(5)} | {f"n{i}" for i in range(5, 12)}
    none = select(target, pool, 10, tmp_path / "z", dedup="none", **opts).report
    assert none["pool"]["candidates"] == 72


def test_minhash_estimates_jaccard_and_lsh_params() -> None:
    assert dd.lsh_params(0.8, 128) == (9, 13)
    rng = random.Random(0)
    words = [f"w{i}" for i in range(400)]
    a = rng.sample(words, 200)
    b = a[:150] + rng.sample(words, 50)
    sig = dd.minhash_signatures([" ".join(a), " ".join(b)])
    sh = [{tuple(x[i : i + 3]) for i in range(len(x) - 2)} for x in (a, b)]
    jaccard = len(sh[0] & sh[1]) / len(sh[0] | sh[1])
    assert np.mean(sig[0] == sig[1]) == pytest.approx(jaccard, abs=0.12)
    bands = dd.band_hashes(["the same text here", "the same text here", "other words entirely"])
    np.testing.assert_array_equal(dd.later_duplicates(bands), [False, True, False])


# ----------------------------------------------------------------------------- output
def test_output_directory_holds_original_records_weights_and_report(tmp_path: Path) -> None:
    rng = random.Random(3)
    target = write_jsonl(tmp_path / "t.jsonl", [{"text": _doc(rng, ML)} for _ in range(40)])
    lines = [
        f'{{"text": "{_doc(rng, d)}",   "id": "p{i}", "extra": {{"nested": [1, 2]}}}}'
        for i, d in enumerate([ML, FOOD, SPORT] * 40)
    ]
    pool = tmp_path / "p.jsonl"
    pool.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    result = select(target, pool, 30, tmp_path / "out", min_tokens=0, progress=False)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html", "report.json", "selected.jsonl", "weights.parquet",
    ]  # fmt: skip
    written = (out / "selected.jsonl").read_text("utf-8").splitlines()
    assert len(written) == 30
    assert set(written) <= set(lines)  # byte for byte, in pool order
    assert written == [x for x in lines if x in set(written)]
    assert [json.loads(x)["id"] for x in written] == result.selected_ids
    weights = pq.read_table(out / "weights.parquet")
    assert weights.column_names == ["id", "log_weight", "selected"]
    assert weights.num_rows == 120 and sum(weights.column("selected").to_pylist()) == 30
    report = json.loads((out / "report.json").read_text())
    assert report == json.loads(json.dumps(result.to_dict()))  # also select --json
    assert report["selected"] == 30 and report["pool"]["documents"] == 120
    assert len(report["examples"]["most_target_like"]) == 10
    top = report["examples"]["most_target_like"][0]["log_weight"]
    assert top == pytest.approx(max(weights.column("log_weight").to_pylist()), abs=1e-3)
    assert sum(report["log_weights"]["histogram"]["counts"]) == 120
    html = (out / "report.html").read_text()
    assert "KL reduction" in html and "<svg" in html
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_csv_text_and_parquet_pools_give_json_records_with_all_columns(tmp_path: Path) -> None:
    rng = random.Random(4)
    target = write_jsonl(tmp_path / "t.jsonl", [{"text": _doc(rng, ML)} for _ in range(20)])
    csv_pool = tmp_path / "p.csv"
    rows = ["id,text,source"] + [f"c{i},{_doc(rng, [ML, FOOD][i % 2])},web" for i in range(40)]
    csv_pool.write_text("\n".join(rows) + "\n", encoding="utf-8")
    txt_pool = tmp_path / "p.txt"
    txt_pool.write_text("\n".join(_doc(rng, [ML, FOOD][i % 2]) for i in range(40)) + "\n")
    pq_pool = tmp_path / "p.parquet"
    texts = [_doc(rng, [ML, FOOD][i % 2]) for i in range(40)]
    pq.write_table(
        pa.table({"id": [f"q{i}" for i in range(40)], "text": texts, "year": list(range(40))}),
        pq_pool,
    )
    select(
        target, [csv_pool, txt_pool, pq_pool], 30, tmp_path / "out", min_tokens=0, progress=False
    )
    recs = selected_rows(tmp_path / "out")
    assert len(recs) == 30
    for r in recs:
        assert set(r) in ({"id", "text", "source"}, {"id", "text"}, {"id", "text", "year"})
        assert r["id"].startswith(("c", "p.txt:", "q"))
        if r["id"].startswith("q"):
            assert r["text"] == texts[r["year"]]


@pytest.mark.slow
def test_space_features_select_by_density_ratio(tmp_path: Path) -> None:
    target, pool = make_fixture(tmp_path, n_pool=300)
    extra = [json.loads(x) for x in pool.read_text("utf-8").splitlines()]
    extra.append({"id": "dup", "text": extra[0]["text"], "domain": 0})
    write_jsonl(pool, extra)
    result = select(
        target, pool, 60, tmp_path / "out", features="space:hash:512", dedup="near",
        min_tokens=0, progress=False,
    )  # fmt: skip
    report = result.report
    assert report["params"]["features"] == "space:hash:512"
    assert report["pool"]["duplicates"]["exact"] == 1
    domains = [r["domain"] for r in selected_rows(tmp_path / "out")]
    assert domains.count(0) >= 50
    assert report["kl"]["kl_reduction"] > 0.3
    assert report["pool"]["classifier_train_accuracy"] > 0.8
    unit = np.eye(4, dtype=np.float32)[[0, 1, 0, 2]]
    np.testing.assert_array_equal(dd.vector_duplicates(unit, 0.95), [False, False, True, False])


# ----------------------------------------------------------------------------- bad input
@pytest.mark.slow
def test_bad_input_is_one_line_and_leaves_no_output(tmp_path: Path) -> None:
    target, pool = make_fixture(tmp_path, n_pool=60)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(RepspaceError, match="target has no documents"):
        select(empty, pool, 5, out, progress=False)
    with pytest.raises(RepspaceError, match="larger than the pool"):
        select(target, pool, 61, out, progress=False)
    dups = write_jsonl(tmp_path / "dups.jsonl", [{"text": "Same text."}] * 3)
    with pytest.raises(RepspaceError, match="1 documents after deduplication"):
        select(target, dups, 2, out, min_tokens=0, progress=False)
    with pytest.raises(RepspaceError, match="no pool documents left") as short:
        select(target, pool, 5, out, progress=False)  # the default skips <100 tokens
    assert "(60 shorter than --min-tokens 100); pass --min-tokens 0" in str(short.value)
    with pytest.raises(RepspaceError, match="24 documents after deduplication, 36 shorter than"):
        select(target, pool, 25, out, min_tokens=20, progress=False)
    with pytest.raises(RepspaceError, match="features"):
        select(target, pool, 5, out, features="tfidf", progress=False)
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))
    kept = select(target, dups, 2, out, dedup="none", min_tokens=0, progress=False)
    assert kept.report["selected"] == 2
    shutil.rmtree(out)

    second = write_jsonl(tmp_path / "pool2.jsonl", [{"id": "p3", "text": "again " * 5}])
    result = run("select", "--target", target, "--pool", pool, "--pool", second, "-k", "5",
                 "--out", out)  # fmt: skip
    assert_one_line_error(result, "pool2.jsonl:1", "duplicate id 'p3'")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(pool.read_bytes() + b'{"id": "z", "text": "caf\xe9"}\n')
    result = run("select", "--target", target, "--pool", bad, "-k", "5", "--out", out)
    assert_one_line_error(result, "bad.jsonl:61", "invalid UTF-8")
    assert not out.exists()

    result = run("select", "--target", target, "--pool", bad, "--pool", second, "-k", "5",
                 "--out", out, "--on-error", "skip", "--json", "--min-tokens", "0")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["pool"]["skipped"] == {"invalid utf-8": 1, "duplicate id": 1}
    assert report["pool"]["documents"] == 60
    result = run("select", "--target", target, "--pool", pool, "-k", "5", "--out", out)
    assert_one_line_error(result, "directory is not empty; pass --overwrite")
    result = run("select", "--target", target, "--pool", pool, "-k", "5", "--out", out,
                 "--overwrite", "--seed", "1", "--min-tokens", "0")  # fmt: skip
    assert result.returncode == 0 and "KL reduction" in result.stdout
