"""The Ray engine benchmark: the overhead of ``--engine ray`` against ``--engine local`` on one
machine, and the speed-up from one to two Ray nodes.

Data: ``--docs`` (1,000,000) synthetic documents generated offline (5-30 words drawn from a
Zipf-distributed vocabulary of 5,000 made-up words), and a target sample of 2,000 documents
drawn from the 400 most frequent words.

1. ``encode`` with ``hash:256`` and with a static model (model2vec's distillation of the
   packaged MiniLM, made once in the work directory; on the first ``--static-docs`` = 200,000
   documents only: it runs at ~2,000 docs/s on the shared machine, 1M would take ~20 min per
   engine), and ``select`` (DSIR n-grams, exact dedup, ``min_tokens=0``, k = 10,000) on the
   whole pool: ``local`` (one process for encode; the usable cores as worker processes for
   select) and ``ray`` (a local Ray instance, ``num_cpus=2``, started once before the rounds
   and not timed; each ray run includes its own actor/task start-up) timed alternately in the
   same run (``_common.alternate``). Reported: the ratio
   ray seconds / local seconds (1.0 = no overhead), and whether the outputs are byte-identical.
2. Nodes: ``encode hash:256`` of the first ``--nodes-docs`` = 300,000 documents on Ray with a
   ``ray.cluster_utils.Cluster`` of one node with 1 CPU and then of two such nodes (same
   machine): the speed-up t(1 node) / t(2 nodes).

On a shared 2-core machine both engines compete for the same two cores, so a ratio near 1 and a
speed-up near 2 are the best possible; the machine's load average is recorded.

Run: ``.venv/bin/python bench/ray.py``; writes ``bench/results/ray.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import REPO, alternate, machine_info, timed, write_result
from evaluate import distilled_model


def _import_ray() -> Any:
    """Ray itself, not this file (bench/ray.py): its folder leaves the path for the import only
    (worker processes of the local engine re-import this file and need ``_common``)."""
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    try:
        import ray
        import ray.cluster_utils
    finally:
        sys.path[:] = saved
    return ray


ray = _import_ray()


def synthetic_corpus(path: Path, n: int, seed: int, vocab_size: int = 5_000) -> Path:
    """``n`` JSONL documents of 5-30 made-up words, Zipf word frequencies (made once)."""
    if path.is_file():
        return path
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "dor", "an", "el"]
    words = np.array(
        [
            "".join(syllables[j] for j in rng.integers(0, len(syllables), rng.integers(2, 5)))
            for _ in range(vocab_size)
        ]
    )
    probs = 1.0 / np.arange(1, vocab_size + 1)
    probs /= probs.sum()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            lengths = rng.integers(5, 31, m)
            flat = words[rng.choice(vocab_size, int(lengths.sum()), p=probs)]
            ends = np.cumsum(lengths)
            lines = [
                json.dumps({"id": f"d{start + i}", "text": " ".join(flat[e - ln : e])})
                for i, (ln, e) in enumerate(zip(lengths.tolist(), ends.tolist(), strict=True))
            ]
            f.write("\n".join(lines) + "\n")
    tmp.rename(path)
    return path


def target_sample(path: Path, n: int, seed: int) -> Path:
    """Documents of the 400 most frequent words of the same vocabulary (the target)."""
    if path.is_file():
        return path
    rng = np.random.default_rng(seed)
    with open(path.parent / "pool.jsonl", encoding="utf-8") as f:
        docs = [json.loads(line) for _, line in zip(range(200_000), f, strict=False)]
    ranks = {w: i for i, w in enumerate(_frequent_words(docs))}
    kept = [d for d in docs if all(ranks.get(w, 1 << 30) < 400 for w in d["text"].split())]
    chosen = rng.choice(len(kept), min(n, len(kept)), replace=False)
    with open(path, "w", encoding="utf-8") as f:
        for i in sorted(chosen.tolist()):
            f.write(json.dumps({"id": f"t{i}", "text": kept[i]["text"]}) + "\n")
    return path


def _frequent_words(docs: list[dict[str, str]]) -> list[str]:
    from collections import Counter

    return [w for w, _ in Counter(w for d in docs for w in d["text"].split()).most_common()]


def head(pool: Path, n: int) -> Path:
    """The first ``n`` documents of the pool as a corpus of its own (made once)."""
    path = pool.with_name(f"head-{n}.jsonl")
    if not path.is_file():
        with open(pool, "rb") as src, open(path, "wb") as dst:
            for _, line in zip(range(n), src, strict=False):
                dst.write(line)
    return path


def same_space(a: Path, b: Path) -> bool:
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    for m in (ma, mb):
        m.pop("created"), m.pop("updated")
    return ma == mb and all(
        (a / s["vectors"]).read_bytes() == (b / s["vectors"]).read_bytes() for s in ma["shards"]
    )


def same_selection(a: Path, b: Path) -> bool:
    return all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in ("selected.jsonl", "weights.parquet")
    )


def ratio_target(name: str, result: dict[str, Any], identical: bool, goal: float) -> dict:
    rates = result["docs_per_s"]
    ratio = rates["local"]["median"] / rates["ray"]["median"]  # = ray seconds / local seconds
    return {
        "target": f"{name}: ray / local wall-clock (overhead of --engine ray), identical output",
        "measured": round(ratio, 3),
        "identical": identical,
        "goal": f"<= {goal} and identical",
        "pass": bool(ratio <= goal and identical),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--static-docs", type=int, default=200_000, help="Pool prefix for static.")
    ap.add_argument("--nodes-docs", type=int, default=300_000, help="Pool prefix for 1 -> 2 nodes.")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--k", type=int, default=10_000)
    ap.add_argument("--workdir", type=Path, default=REPO / "build" / "bench" / "ray")
    ap.add_argument("--skip-nodes", action="store_true", help="Skip the 1 -> 2 nodes part.")
    args = ap.parse_args()
    work = args.workdir
    data = work / f"data-{args.docs}"
    data.mkdir(parents=True, exist_ok=True)

    import repspace

    t_data, pool = timed(lambda: synthetic_corpus(data / "pool.jsonl", args.docs, seed=0))
    target = target_sample(data / "target.jsonl", 2_000, seed=1)
    m2v, distill_s = distilled_model(work)
    encoders = {
        "hash": ("hash:256", pool),
        "static": (f"static:{m2v}", head(pool, args.static_docs)),
    }
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)

    t_init, _ = timed(lambda: ray.init(num_cpus=2, include_dashboard=False))
    results: dict[str, Any] = {}
    targets = []
    for name, (spec, corpus) in encoders.items():

        def run(engine: str, spec: str = spec, name: str = name, corpus: Path = corpus) -> None:
            repspace.encode(
                corpus,
                spec,
                out / f"{name}-{engine}",
                overwrite=True,
                progress=False,
                engine=engine,
            )

        docs = min(args.docs, args.static_docs) if name == "static" else args.docs
        res = alternate(
            {"local": lambda run=run: run("local"), "ray": lambda run=run: run("ray")},
            docs,
            args.rounds,
        )
        res.pop("outputs")
        identical = same_space(out / f"{name}-local", out / f"{name}-ray")
        results[f"encode_{name}"] = {"encoder": spec, "docs": docs, **res, "identical": identical}
        targets.append(ratio_target(f"encode {name}", res, identical, 1.25))
        print(name, json.dumps(results[f"encode_{name}"]["docs_per_s"]), identical, flush=True)

    def sel(engine: str) -> None:
        repspace.select(
            target, pool, args.k, out / f"select-{engine}", overwrite=True, progress=False,
            engine=engine, min_tokens=0,  # the documents are 5-30 words
        )  # fmt: skip

    res = alternate({"local": lambda: sel("local"), "ray": lambda: sel("ray")}, args.docs, 1)
    res.pop("outputs")
    identical = same_selection(out / "select-local", out / "select-ray")
    results["select"] = {"features": "ngram", "k": args.k, **res, "identical": identical}
    targets.append(ratio_target("select", res, identical, 1.25))
    print("select", json.dumps(res["docs_per_s"]), identical, flush=True)
    ray.shutdown()

    nodes: dict[str, Any] = {}
    if not args.skip_nodes:
        nodes_pool = head(pool, args.nodes_docs)
        nodes["docs"] = min(args.docs, args.nodes_docs)
        for count in (1, 2):
            cluster = ray.cluster_utils.Cluster(
                initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
            )
            for _ in range(count - 1):
                cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address)
            seconds, _ = timed(
                lambda count=count: repspace.encode(
                    nodes_pool, "hash:256", out / f"nodes-{count}", overwrite=True, progress=False,
                    engine="ray",
                )
            )  # fmt: skip
            nodes[f"{count}_node_s"] = round(seconds, 2)
            ray.shutdown()
            cluster.shutdown()
            time.sleep(2)
        speedup = nodes["1_node_s"] / nodes["2_node_s"]
        nodes["speedup"] = round(speedup, 3)
        nodes["identical"] = same_space(out / "nodes-1", out / "nodes-2")
        targets.append(
            {
                "target": "encode hash:256 on Ray: speed-up from 1 to 2 local nodes (1 CPU each)",
                "measured": round(speedup, 3),
                "goal": "reported (the issue sets no target: both nodes share this machine's 2"
                " cores with the driver and Ray's daemons; 2.0 would be linear)",
                "pass": None if nodes["identical"] else False,
            }
        )
        print("nodes", nodes, flush=True)

    write_result(
        "ray",
        {
            "benchmark": "ray",
            "machine": machine_info(),
            "params": {
                "docs": args.docs,
                "rounds": args.rounds,
                "k": args.k,
                "ray": ray.__version__,
                "ray_init": "ray.init(num_cpus=2, include_dashboard=False)",
                "ray_init_s": round(t_init, 2),
                "data_generation_s": round(t_data, 2),
                "distill_s": distill_s,
                "shard_size": 10_000,
                "static_docs": min(args.docs, args.static_docs),
                "nodes_docs": min(args.docs, args.nodes_docs),
            },
            "results": {**results, "nodes": nodes},
            "targets": targets,
        },
    )
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
