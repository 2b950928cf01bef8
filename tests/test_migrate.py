"""Migration OLD -> NEW: plan, start, resumable backfill (SIGKILL), mixed search, status."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import repspace
from helpers import assert_one_line_error, run, synthetic_docs, write_jsonl
from repspace import Migration, RepspaceError, Space
from repspace.space import read_manifest

OLD, NEW = "hash:256", "hash:384"


def _old_space(tmp_path: Path, n: int = 300) -> tuple[Path, list[dict[str, str]]]:
    docs = synthetic_docs(n, seed=5)
    corpus = write_jsonl(tmp_path / "c.jsonl", docs)
    repspace.encode(corpus, OLD, tmp_path / "old", progress=False)
    return tmp_path / "old", docs


def test_plan_start_backfill_search_status(tmp_path: Path) -> None:
    old, docs = _old_space(tmp_path)
    p = repspace.maps.migration.plan(old, NEW, sample=0.5, method="linear")
    assert p.sample == 150 and 0 <= p.self_r10 <= 1
    assert "self_r@10" in p.to_dict() and "retained" not in p.to_dict()  # no task
    mig = Migration.start(old, NEW, tmp_path / "mig", sample=0.5, method="linear", batch=64)
    assert mig.status().done == 0 and mig.status().status == "mapped"
    q = docs[7]["text"]
    hits = mig.search(q, 5)[0]
    assert len(hits) == 5
    mig.backfill(max_batches=2)
    st = mig.status()
    assert st.done == 128 and st.status == "backfilling"
    mixed = mig.search([q, docs[200]["text"]], 5)
    assert mixed[0][0][0] == docs[7]["id"]  # found natively in the NEW part
    assert all(len(h) == 5 for h in mixed)
    ids = [i for i, _ in mixed[1]]
    assert len(ids) == len(set(ids))
    mig.backfill()
    st = Migration.open(tmp_path / "mig").status()
    assert st.status == "done" and st.fraction == 1.0 and st.map is None
    new = Space.open(tmp_path / "mig" / "new", verify=True)
    assert new.ids == [d["id"] for d in docs] and new.dim == 384
    clean = repspace.encode(tmp_path / "c.jsonl", NEW, tmp_path / "clean", progress=False)
    assert np.array_equal(new.vectors, clean.vectors)
    assert mig.search(q, 1)[0][0][0] == docs[7]["id"]


def _backfill_cmd(mig: Path) -> list[str]:
    return [sys.executable, "-m", "repspace", "migrate", "backfill", str(mig), "--quiet"]


@pytest.mark.slow
def test_backfill_sigkill_and_resume(tmp_path: Path) -> None:
    old, docs = _old_space(tmp_path, n=3000)
    mig = tmp_path / "mig"
    Migration.start(old, NEW, mig, sample=200, batch=100)
    proc = subprocess.Popen(_backfill_cmd(mig))
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        m = read_manifest(mig / "new") if (mig / "new" / "manifest.json").exists() else None
        if m and len(m["shards"]) >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "backfill finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = read_manifest(mig / "new")
    assert killed["status"] == "building" and 3 <= len(killed["shards"]) < 30
    assert Migration.open(mig).status().status == "backfilling"
    Space.open(mig / "new", allow_building=True, verify=True)  # what is recorded is intact
    subprocess.run(_backfill_cmd(mig), check=True)
    new = Space.open(mig / "new", verify=True)
    assert new.ids == [d["id"] for d in docs]
    clean = repspace.encode(tmp_path / "c.jsonl", NEW, tmp_path / "clean", progress=False)
    assert np.array_equal(new.vectors, clean.vectors)
    out = run("migrate", "status", mig)
    assert json.loads(out.stdout)["status"] == "done"


def test_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(run("migrate", "status", tmp_path / "none"), "no migration")
    old, _ = _old_space(tmp_path, n=50)
    Migration.start(old, NEW, tmp_path / "mig", sample=20)
    with pytest.raises(RepspaceError, match="another migration is already recorded"):
        Migration.start(old, NEW, tmp_path / "mig", method="linear")
    # the same start again (a re-run after a crash) returns the recorded migration
    assert Migration.start(old, NEW, tmp_path / "mig").status().n == 50
    with pytest.raises(RepspaceError, match="method"):
        repspace.maps.migration.plan(old, NEW, method="relative")


def test_cli_plan_with_made_task(tmp_path: Path) -> None:
    old, _ = _old_space(tmp_path, n=120)
    repspace.make_task(tmp_path / "c.jsonl", "split-half", tmp_path / "task", seed=0)
    r = run("migrate", "plan", old, NEW, "--task", tmp_path / "task", "--sample", "60")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    assert p["sample"] == 60 and 0 < p["old_ndcg10"] <= 1 and p["retained"] is not None
    assert p["curve"][-1]["retained"] == p["retained"] and "retained" in p["advice"]


def test_plan_anchors_sentences_extra_and_advice(tmp_path: Path) -> None:
    from repspace.encoders import load_encoder
    from repspace.maps.migration import collect_anchors, sentence_anchors

    words = synthetic_docs(120, seed=9)
    docs = [
        {"id": f"d{i}", "text": f"{a['text'].capitalize()}. {b['text'].capitalize()}."}
        for i, (a, b) in enumerate(zip(words[::2], words[1::2], strict=True))
    ]
    write_jsonl(tmp_path / "c.jsonl", docs)
    repspace.encode(tmp_path / "c.jsonl", OLD, tmp_path / "old", progress=False)
    sents, owner = sentence_anchors(["One two. Three four!", "Single sentence only"])
    assert sents == ["One two.", "Three four!"] and owner.tolist() == [0, 0]

    a = collect_anchors(Space.open(tmp_path / "old"), NEW, 10, seed=0)
    assert a.counts() == {"documents": 10, "sentences": 20, "extra": 0}
    texts = [t for i in a.rows for t in sentence_anchors([docs[i]["text"]])[0]]
    old_enc = load_encoder(OLD)
    assert np.allclose(a.old_sents, old_enc.encode(texts), atol=1e-6)  # OLD embeds sentences
    x, y = a.pairs(4)
    assert len(x) == len(y) == 4 + 8 and x.shape[1] == 384 and y.shape[1] == 256

    (tmp_path / "extra.txt").write_text("general text one\nanother general text\n")
    p = repspace.maps.migration.plan(
        tmp_path / "old", NEW, sample=30, sentences=False, extra_anchors=tmp_path / "extra.txt"
    )
    assert p.anchors == {"documents": 30, "sentences": 0, "extra": 2}
    sizes = [c["documents"] for c in p.curve]
    assert p.held_out == 6 and sizes == sorted(sizes) and sizes[-1] == 30 - 6
    assert "--task" in p.advice
    assert p.curve[-1]["self_r@10"] == p.self_r10


def test_plan_compares_every_method_and_start_uses_the_choice(tmp_path: Path) -> None:
    from repspace.maps.registry import MIGRATE_METHODS

    old, _ = _old_space(tmp_path, n=200)
    p = repspace.maps.migration.plan(old, NEW, sample=150)
    assert set(p.methods) == set(MIGRATE_METHODS) and p.held_out == 30
    scored = {k: v for k, v in p.methods.items() if "skipped" not in v}
    assert "residual-mlp" in scored and p.method in scored
    best = max(scored.values(), key=lambda v: (v["self_r@10"], v["self_r@1"], v["cosine"]))
    assert p.methods[p.method] == best and p.self_r10 == best["self_r@10"]
    assert all(len(v["curve"]) >= 1 for v in scored.values())
    mig = Migration.start(old, NEW, tmp_path / "mig", sample=150)
    state = json.loads((tmp_path / "mig" / "migration.json").read_text())
    assert state["requested"] == "auto" and state["method"] == p.method
    assert mig.search("anything at all", 3)[0]
    few = repspace.maps.migration.plan(old, NEW, sample=40, sentences=False, curve=False)
    assert few.methods["residual-mlp"] == {"skipped": "32 anchor pairs, needs 100"}


def test_bridge_fit_reuse_refine_and_refusals(tmp_path: Path) -> None:
    from repspace.maps.bridge import fit_bridge

    old, _ = _old_space(tmp_path, n=200)
    generic = write_jsonl(tmp_path / "generic.jsonl", synthetic_docs(600, seed=11))
    rec = fit_bridge(OLD, NEW, generic, tmp_path / "bridge", method="low-rank", limit=500)
    assert rec.pairs == 500 and rec.corpus["texts"] == 500 and 0 < rec.held_out["cosine"] <= 1
    assert json.loads((tmp_path / "bridge" / "bridge.json").read_text())["method"] == "low-rank"
    p = repspace.maps.migration.plan(old, NEW, sample=150, bridge=tmp_path / "bridge", curve=False)
    assert {"bridge", "bridge+refined"} <= set(p.methods) and p.bridge
    alone = repspace.maps.migration.plan(
        old, NEW, sample=150, bridge=tmp_path / "bridge", method="bridge", curve=False
    )
    assert alone.method == "bridge" and alone.fitted.kind == "low-rank"
    # a bridge of another model pair, a method that needs a bridge: one line, exit 2
    r = run("migrate", "plan", old, "hash:320", "--bridge", tmp_path / "bridge")
    assert_one_line_error(r, "a bridge for another model pair", "NEW is hash:384")
    r = run("migrate", "plan", old, NEW, "--method", "bridge+refined")
    assert_one_line_error(r, "needs --bridge")
    r = run("migrate", "bridge", OLD, NEW, "--corpus", generic, "--out", tmp_path / "bridge")
    assert_one_line_error(r, "--overwrite")
    r = run("migrate", "bridge", OLD, NEW, "--corpus", generic, "--out", tmp_path / "b2",
            "--method", "residual-mlp", "--limit", "60")  # fmt: skip
    assert_one_line_error(r, "residual-mlp map", "needs at least 100")
    r = run("migrate", "plan", old, NEW, "--method", "residual-mlp", "--sample", "30",
            "--no-sentences")  # fmt: skip
    assert_one_line_error(r, "24 anchor pairs to fit on are too few (residual-mlp needs 100)")


def test_extra_anchors_are_cached_per_model(tmp_path: Path) -> None:
    from repspace.fsio import cache_dir
    from repspace.maps.migration import collect_anchors

    old, _ = _old_space(tmp_path, n=60)
    generic = write_jsonl(tmp_path / "generic.jsonl", synthetic_docs(300, seed=12))
    spaces = cache_dir() / "anchors" / "spaces"
    before = set(spaces.glob("*")) if spaces.exists() else set()
    a = collect_anchors(Space.open(old), NEW, 10, 0, extra_anchors=generic, extra_limit=200)
    made = set(spaces.glob("*")) - before
    assert a.counts()["extra"] == 200 and len(made) == 2  # NEW's and OLD's vectors
    b = collect_anchors(Space.open(old), NEW, 20, 1, extra_anchors=generic, extra_limit=200)
    assert set(spaces.glob("*")) - before == made  # the second time encodes nothing
    assert np.array_equal(a.new_extra, b.new_extra) and np.array_equal(a.old_extra, b.old_extra)
