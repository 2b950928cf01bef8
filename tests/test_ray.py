"""The Ray engine on one local cluster (``ray.init(num_cpus=2)``, shared by this module): encode
and select give the local engine's bytes, resume after a killed driver, survive a killed
worker; the CLI options; the install hint without Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import repspace
from helpers import (
    corpus_with_fields,
    select_pool,
    space_files,
    synthetic_docs,
    tiny_static_model,
    write_jsonl,
)
from repspace.errors import RepspaceError
from repspace.space import Space, read_manifest

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_encode_ray_is_byte_identical_to_local(cluster, tmp_path: Path) -> None:
    corpus = corpus_with_fields(tmp_path / "c.jsonl", 700)
    opts = {"shard_size": 120, "batch_size": 16, "progress": False, "fields": ["lang"]}
    local = repspace.encode(corpus, "hash:64", tmp_path / "local", **opts)
    remote = repspace.encode(corpus, "hash:64", tmp_path / "ray", engine="ray", **opts)
    assert len(remote.manifest["shards"]) == 6
    assert space_files(tmp_path / "ray") == space_files(tmp_path / "local")
    assert Space.open(tmp_path / "ray", verify=True).ids == local.ids


def test_encode_ray_static_model_and_cli(cluster, tmp_path: Path) -> None:
    from repspace.cli import app

    model = tiny_static_model(tmp_path / "m")
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(300, seed=1))
    repspace.encode(corpus, f"static:{model}", tmp_path / "local", shard_size=70, progress=False)
    result = CliRunner().invoke(
        app,
        ["encode", str(corpus), "-e", f"static:{model}", "-o", str(tmp_path / "ray"),
         "--shard-size", "70", "--engine", "ray", "--num-actors", "2", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert space_files(tmp_path / "ray") == space_files(tmp_path / "local")


def _shards_recorded(out: Path) -> int:
    try:
        m = read_manifest(out)
    except (RepspaceError, ValueError):
        return 0
    return len(m["shards"]) if m else 0


def test_encode_ray_resumes_after_the_driver_is_killed(cluster, tmp_path: Path) -> None:
    """A driver (another process, joined to this cluster) SIGKILLed after its first recorded
    shard; re-running resumes and the space equals an uninterrupted local run."""
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(12_000, seed=2))
    out = tmp_path / "killed"
    address = cluster.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "repspace", "encode", str(corpus), "-e", "hash:64",
           "-o", str(out), "--shard-size", "100", "--engine", "ray",
           "--ray-address", address, "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, env={**os.environ}, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while _shards_recorded(out) < 1 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = read_manifest(out)
    assert killed_at["status"] == "building" and 1 <= len(killed_at["shards"]) < 120

    repspace.encode(corpus, "hash:64", out, shard_size=100, progress=False, engine="ray")
    repspace.encode(corpus, "hash:64", tmp_path / "local", shard_size=100, progress=False)
    assert space_files(out) == space_files(tmp_path / "local")
    assert not list((out / "shards").glob(".*.tmp"))
    # the killed driver's actors wrote only into its run directory, which the resumed run
    # removed: nothing of theirs can replace a recorded shard
    assert not list(out.glob(".ray-*"))


def _encoder_worker_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"MapBatches(ShardEncoder)" in cmdline:
                pids.append(int(proc.name))
    return pids


def test_encode_ray_survives_a_killed_worker(cluster, tmp_path: Path) -> None:
    """SIGKILL an encoder actor once the first shard is on disk: Ray Data restarts it and
    retries its block; no row is duplicated or missing and the bytes equal the local run's."""
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(8_000, seed=4))
    out = tmp_path / "ray"
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        while not done.is_set() and not list((out / "shards").glob("[0-9]*.npy")):
            time.sleep(0.005)
        pids = _encoder_worker_pids()
        if pids and not done.is_set():
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        space = repspace.encode(corpus, "hash:64", out, shard_size=50, progress=False, engine="ray")
    finally:
        done.set()
        thread.join()
    assert killed, "no encoder worker was killed while the job ran"
    repspace.encode(corpus, "hash:64", tmp_path / "local", shard_size=50, progress=False)
    assert space_files(out) == space_files(tmp_path / "local")
    assert space.n == 8_000 and len(set(Space.open(out).ids)) == 8_000


@pytest.mark.parametrize("dedup", ["exact", "near"])
def test_select_ray_is_identical_to_local(cluster, tmp_path: Path, dedup: str) -> None:
    target, pool = select_pool(tmp_path)
    # short documents: min_tokens=0 keeps them (the default, 100, would skip them all)
    opts = {"seed": 3, "dedup": dedup, "chunk_size": 300, "progress": False, "min_tokens": 0}
    local = repspace.select(target, pool, 200, tmp_path / "local", jobs=1, **opts)
    remote = repspace.select(target, pool, 200, tmp_path / "ray", engine="ray", **opts)
    assert remote.selected_ids == local.selected_ids and len(local.selected_ids) == 200
    for name in ("selected.jsonl", "weights.parquet"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert remote.report["kl"] == local.report["kl"]
    assert remote.report["params"]["engine"] == "ray"


def test_select_ray_cli_and_space_features_refused(cluster, tmp_path: Path) -> None:
    from repspace.cli import app

    target, pool = select_pool(tmp_path)
    repspace.select(target, pool, 50, tmp_path / "local", progress=False, min_tokens=0)
    args = ["select", "-t", str(target), "-p", str(pool), "-k", "50", "--quiet",
            "--min-tokens", "0"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "ray"), "--engine", "ray"])
    assert result.exit_code == 0, result.output
    selected = (tmp_path / "ray" / "selected.jsonl").read_bytes()
    assert selected == (tmp_path / "local" / "selected.jsonl").read_bytes()
    with pytest.raises(RepspaceError, match="--engine local"):
        repspace.select(target, pool, 5, tmp_path / "x", features="space:hash:32", engine="ray")
