"""The Ray engine on a two-node cluster on one machine (``ray.cluster_utils.Cluster``, one CPU
per node, so the two encoder actors and the select tasks are spread over both nodes): the same
bytes as the local engine."""

from __future__ import annotations

from pathlib import Path

import pytest

import repspace
from helpers import corpus_with_fields, select_pool, space_files

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_nodes():
    cluster = cluster_utils.Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_two_nodes_encode_and_select_equal_local(two_nodes, tmp_path: Path) -> None:
    assert sum(n["Alive"] for n in ray.nodes()) == 2
    corpus = corpus_with_fields(tmp_path / "c.jsonl", 500, seed=8)
    opts = {"shard_size": 100, "progress": False, "fields": ["lang"]}
    repspace.encode(corpus, "hash:32", tmp_path / "local", **opts)
    repspace.encode(corpus, "hash:32", tmp_path / "ray", engine="ray", num_actors=2, **opts)
    assert space_files(tmp_path / "ray") == space_files(tmp_path / "local")

    target, pool = select_pool(tmp_path)
    sel = {"seed": 1, "chunk_size": 250, "progress": False, "min_tokens": 0}
    local = repspace.select(target, pool, 100, tmp_path / "sel-local", **sel)
    remote = repspace.select(target, pool, 100, tmp_path / "sel-ray", engine="ray", **sel)
    assert remote.selected_ids == local.selected_ids
    for name in ("selected.jsonl", "weights.parquet"):
        ray_bytes = (tmp_path / "sel-ray" / name).read_bytes()
        assert ray_bytes == (tmp_path / "sel-local" / name).read_bytes()
