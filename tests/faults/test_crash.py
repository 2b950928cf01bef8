"""Crash at any point (bounded): each cheap writer command is SIGKILLed at a few seeded moments;
running it again finishes it and gives the clean run's artifact (``harness.canonical``), with
nothing left behind. ``bench/faults.py`` runs the long campaign (every writer, >= 20 moments)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import repspace
from harness import Case, campaign
from helpers import synthetic_docs, write_jsonl

pytestmark = pytest.mark.slow
MOMENTS = 3


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash")
    rows = [{**d, "title": f"title {i}"} for i, d in enumerate(synthetic_docs(4000, seed=2))]
    write_jsonl(root / "c.jsonl", rows)
    repspace.encode(root / "c.jsonl", "hash:64", root / "space", progress=False, shard_size=500)
    np.save(root / "v.npy", np.random.default_rng(0).normal(size=(4000, 32)).astype(np.float32))
    (root / "ids.txt").write_text("".join(f"r{i}\n" for i in range(4000)))
    repspace.Migration.start(root / "space", "hash:48", root / "mig", sample=0.1, batch=400)
    return root


def cases(root: Path) -> dict[str, Case]:
    out = root / "out"

    def started_migration(path: Path) -> None:
        shutil.copytree(root / "mig", path)

    return {
        "encode": Case("encode", ["encode", str(root / "c.jsonl"), "--encoder", "hash:64",
                                  "--out", str(out), "--shard-size", "250", "-q"], out),
        "import": Case("import", ["import", str(root / "v.npy"), "--ids", str(root / "ids.txt"),
                                  "--out", str(out), "--overwrite"], out),
        "index": Case("index", ["index", str(root / "space"), "--out", str(out), "--overwrite",
                                "-q"], out),
        "make-task": Case("make-task", ["make-task", str(root / "c.jsonl"), "--kind",
                                        "title-body", "--out", str(out), "--overwrite"], out),
        "migrate backfill": Case("migrate backfill", ["migrate", "backfill", str(out), "-q"],
                                 out, setup=started_migration),
    }  # fmt: skip


@pytest.mark.parametrize("name", ["encode", "import", "index", "make-task", "migrate backfill"])
def test_killed_writer_rerun_equals_clean_run(root: Path, name: str) -> None:
    result = campaign(cases(root)[name], MOMENTS, seed=7)
    assert result["survived"] == result["crashes"] == MOMENTS, result["failures"]
