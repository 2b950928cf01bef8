"""repspace adapt: the real MiniLM fine-tuned on pairs made from a tiny unlabeled corpus (a few
dozen pairs, a few steps, short sequences), with the library's trainer, LoRA through peft."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import WORDS, write_jsonl
from repspace.cli import app
from repspace.corpus import Corpus
from repspace.errors import RepspaceError
from repspace.training.adaptation import MIN_PAIRS, layout, read_replay, training_pairs

MINILM = "st:all-MiniLM-L6-v2"
TINY = {"batch_size": 8, "max_seq_length": 16, "progress": False}


def _corpus(path: Path, n: int = 32) -> Path:
    rows = []
    for i, (a, b) in enumerate(list(combinations(WORDS, 2))[:n]):
        rows.append(
            {
                "id": f"d{i}",
                "title": f"{a} {b} handbook",
                "text": f"The {a} chapter explains {b} methods. It covers {a} in depth. "
                f"Examples use the {b} {i} dataset.",
            }
        )
    return write_jsonl(path, rows)


def _sts(path: Path) -> Path:
    return write_jsonl(
        path,
        [
            {"s1": "A man plays the guitar.", "s2": "A man is playing a guitar.", "score": 4.8},
            {"s1": "A cat sleeps on the sofa.", "s2": "The stock market fell today.", "score": 0.2},
            {"s1": "Children play in the park.", "s2": "Kids are playing outside.", "score": 4.0},
            {"s1": "The car is red.", "s2": "A woman slices an onion.", "score": 0.1},
        ],
    )


def test_pairs_dedup_and_layout_puts_replay_in_every_batch(tmp_path: Path) -> None:
    corpus = Corpus(_corpus(tmp_path / "c.jsonl"), fields=("title",))
    pairs, skipped = training_pairs(corpus, "title-body")
    assert len(pairs) == 32 and not skipped
    assert pairs[0].query == "vector space handbook"
    span, _ = training_pairs(Corpus(tmp_path / "c.jsonl"), "span", seed=1)
    assert all(p.query not in p.document for p in span)
    drop, _ = training_pairs(Corpus(tmp_path / "c.jsonl"), "dropout")
    assert all(p.query == p.document for p in drop)

    domain = [(f"q{i}", f"d{i}") for i in range(20)]
    replay = [(f"rq{i}", f"rd{i}") for i in range(3)]
    anchors, positives, replayed = layout(
        domain, replay, epochs=2, batch_size=8, replay_ratio=0.25, seed=0
    )
    batches = [anchors[i : i + 8] for i in range(0, len(anchors), 8)]
    assert all(len(b) == 8 and sum(a.startswith("rq") for a in b) == 2 for b in batches[:-1])
    assert sum(a.startswith("q") for a in anchors) == 40  # every pair once per epoch
    assert replayed == 2 * len(batches)
    assert all(a.lstrip("rq") == p.lstrip("rd") for a, p in zip(anchors, positives, strict=True))
    again = layout(domain, replay, epochs=2, batch_size=8, replay_ratio=0.25, seed=0)
    assert again[0] == anchors  # seeded


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    from repspace.training.adaptation import adapt

    corpus = _corpus(tmp_path / "c.jsonl")
    with pytest.raises(RepspaceError, match="must be st:"):
        adapt("hash:64", corpus, tmp_path / "m")
    small = _corpus(tmp_path / "small.jsonl", n=MIN_PAIRS - 1)
    with pytest.raises(RepspaceError, match=f"need at least {MIN_PAIRS}"):
        adapt(MINILM, small, tmp_path / "m", pairs="title-body", **TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "small.jsonl"]  # no work dir
    bad = write_jsonl(tmp_path / "r.jsonl", [{"s1": "a", "s2": "b", "score": 1.0}] * 3)
    with pytest.raises(RepspaceError, match=r"r\.jsonl:1: a --replay line needs"):
        read_replay(bad)
    (tmp_path / "r.csv").write_text("anchor,positive\na,b\n")
    with pytest.raises(RepspaceError, match="JSONL"):
        adapt(MINILM, corpus, tmp_path / "m", replay=tmp_path / "r.csv")

    res = subprocess.run(
        [sys.executable, "-m", "repspace", "adapt", "--encoder", "static:x", "--corpus",
         str(corpus), "--out", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "must be st:" in res.stderr


@pytest.mark.slow
def test_full_fine_tune_with_replay_and_matryoshka(tmp_path: Path) -> None:
    from repspace.encoders import load_encoder
    from repspace.training.adaptation import adapt

    corpus = _corpus(tmp_path / "c.jsonl")
    replay = write_jsonl(
        tmp_path / "replay.jsonl",
        [{"anchor": f"general sentence {i}", "positive": f"a general text {i}"} for i in range(5)],
    )
    out = tmp_path / "m"
    record = adapt(
        MINILM, corpus, out, pairs="title-body", replay=replay, replay_ratio=0.25,
        matryoshka=[64, 128], evaluate_on=[_sts(tmp_path / "sts.jsonl")], lr=1e-4, **TINY,
    )  # fmt: skip
    assert record.pairs == {
        "kind": "title-body", "domain": 32, "replay": 12, "replay_file": str(replay),
        "replay_per_batch": 2, "skipped": {},
    }  # fmt: skip
    assert record.training["steps"] == 6 and record.parameters["share"] == 1.0
    assert record.training["matryoshka_dims"] == [64, 128]
    assert set(record.evaluation["change"]) == {"sts"}
    assert set(record.seconds) >= {"pairs", "training", "evaluate_before", "evaluate_after"}
    assert json.loads((out / "adapt.json").read_text()) == json.loads(json.dumps(record.to_dict()))
    ids = json.loads((out / "training_documents.json").read_text())["ids"]
    assert sorted(ids) == sorted(f"d{i}" for i in range(32))
    card = (out / "README.md").read_text()
    assert MINILM in card and record.corpus["hash"][:16] in card and "title-body" in card
    assert "| sts | spearman |" in card
    assert not any(p.name.startswith(".m.") for p in tmp_path.iterdir())  # work dir removed

    base, adapted = load_encoder(MINILM), load_encoder(f"st:{out}")
    texts = ["vector space handbook", "A man plays the guitar."]
    a, b = base.encode(texts), adapted.encode(texts)
    assert adapted.dim == 384 and not np.allclose(a, b)
    assert float((a * b).sum(axis=1).min()) > 0.7  # adapted, not destroyed

    with pytest.raises(RepspaceError, match="not empty"):
        adapt(MINILM, corpus, out, pairs="title-body", **TINY)


@pytest.mark.slow
def test_lora_trains_few_parameters_and_merges(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from repspace.training.adaptation import adapt

    out = tmp_path / "m"
    record = adapt(
        MINILM, _corpus(tmp_path / "c.jsonl"), out, pairs="span", method="lora", lora_rank=4, **TINY
    )
    assert record.training["lora"]["alpha"] == 8  # twice the rank by default
    share = record.parameters["share"]
    assert 0 < share < 0.05 and record.parameters["total"] == 22_713_216
    assert not (out / "adapter_config.json").exists()  # merged: a plain model directory
    weights = load_file(str(out / "model.safetensors"))
    assert not any("lora" in k for k in weights)
    from repspace.encoders.st import resolve_model

    base = load_file(str(Path(resolve_model("all-MiniLM-L6-v2")) / "model.safetensors"))
    key = next(k for k in weights if k.endswith("attention.self.query.weight"))
    assert not np.allclose(weights[key], base[key])


@pytest.mark.slow
def test_interrupted_run_resumes_from_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from sentence_transformers import SentenceTransformerTrainer

    from repspace.training.adaptation import adapt

    corpus = _corpus(tmp_path / "c.jsonl")
    real = SentenceTransformerTrainer.training_step
    calls = {"n": 0}

    def crash_on_third(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformerTrainer, "training_step", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        adapt(MINILM, corpus, tmp_path / "m", pairs="dropout", checkpoint_every=1, **TINY)
    monkeypatch.setattr(SentenceTransformerTrainer, "training_step", real)
    record = adapt(MINILM, corpus, tmp_path / "m", pairs="dropout", checkpoint_every=1, **TINY)
    assert record.training["resumed_from_step"] == 2
    assert record.training["steps"] == 4


@pytest.mark.slow
def test_cli_adapt(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "c.jsonl")
    res = CliRunner().invoke(
        app,
        ["adapt", "--encoder", MINILM, "--corpus", str(corpus), "--out", str(tmp_path / "m"),
         "--pairs", "split-half", "--batch-size", "16", "--max-seq-length", "16", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["pairs"]["kind"] == "split-half" and record["training"]["steps"] == 2


@pytest.mark.slow
def test_select_from_pool_adds_documents(tmp_path: Path) -> None:
    from repspace.training.adaptation import adapt

    corpus = _corpus(tmp_path / "c.jsonl", n=10)  # too few pairs alone
    pool_rows = [
        json.loads(line) | {"id": f"p{i}"}
        for i, line in enumerate(_corpus(tmp_path / "x.jsonl", n=40).read_text().splitlines())
    ]
    pool = write_jsonl(tmp_path / "pool.jsonl", pool_rows[10:])
    with pytest.raises(RepspaceError, match="only 10 distinct"):
        adapt(MINILM, corpus, tmp_path / "m", pairs="title-body", **TINY)
    record = adapt(
        MINILM, corpus, tmp_path / "m", pairs="title-body", select_from=pool, k=20,
        batch_size=16, max_seq_length=16, progress=False,
    )  # fmt: skip
    assert record.selection["k"] == 20 and record.pairs["domain"] == 30
    ids = json.loads((tmp_path / "m" / "training_documents.json").read_text())["ids"]
    assert sum(i.startswith("p") for i in ids) == 20
