"""Search and serving at scale: the targets of the index/serve issue, measured in one run.

1. ``ann_synthetic``: a 1,000,000 × 384 space with cluster structure (``Mixture``): 1,000
   unit centres ~ N(0, I); each cluster spans its own random 32-dim subspace; a point is its
   centre + a draw of norm ~0.8 in that subspace + isotropic noise of norm ~0.2, normalized,
   so that its TwoNN intrinsic dimension is close to real text spaces' (both are reported).
   Queries are fresh draws from the same mixture. ``repspace.index.Index`` (usearch HNSW,
   cosine, float16 by default) against exact search on the same rows: recall@10 against the
   true top 10 (BLAS float32 brute force), and queries/s of HNSW against exact brute force
   (the faster of usearch's SIMD ``exact=True`` and a BLAS matrix product, same threads).
   Target: recall@10 >= 0.95 at >= 10x the exact queries/s.
2. ``ann_real``: the same on a real text space: paragraphs of the docstrings of the installed
   Python packages (deduplicated: real, varied technical English, cached under
   ``build/bench``), encoded with a static encoder (a model2vec distillation of MiniLM, made
   offline; fast enough for 200k documents on a shared 2-core machine, where MiniLM would
   take most of an hour). Queries: held-out paragraphs.
3. ``server``: ``repspace serve`` (a subprocess, uvicorn) over a 100,000-document index of the
   same corpus and static encoder; an asyncio + httpx load generator sends 5,000 ``/search``
   requests (GET and POST, k = 10, queries from held-out docstrings) at concurrency 32, then a
   set of malformed and oversized requests. Targets: zero errors, p50/p99 latency reported,
   every bad request answered 4xx (never 5xx).

Nothing is downloaded. Run from the repository root: ``.venv/bin/python bench/serve.py``
(``--help`` for options); writes ``bench/results/serve.json``. The machine is shared: the
targets are ratios against exact search in the same run.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from _common import REPO, RESULTS, machine_info, write_result
from repspace import Space, load_encoder
from repspace.fsio import atomic_write
from repspace.index import Index
from repspace.metrics.intrinsic_dim import intrinsic_dimension

K = 10


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------- data
class Mixture:
    """Clusters with low-dimensional structure, like real embedding spaces: ``centres`` unit
    centres ~ N(0, I); cluster c spans its own random ``rank``-dim subspace B_c. A point is
    ``centre_c + B_c z + e`` with z ~ N(0, spread²/rank I_rank) and isotropic noise
    e ~ N(0, noise²/dim I), normalized. Its TwoNN intrinsic dimension is reported beside the
    real space's (isotropic noise alone, rank = dim, makes neighbours nearly equidistant, which
    no text space is)."""

    def __init__(
        self, dim: int, centres: int, rank: int, spread: float, noise: float, seed: int = 0
    ) -> None:
        rng = np.random.default_rng(seed)
        self.dim, self.rank, self.spread, self.noise = dim, rank, spread, noise
        self.centres = rng.standard_normal((centres, dim), dtype=np.float32)
        self.centres /= np.linalg.norm(self.centres, axis=1, keepdims=True)
        self.bases = np.stack(
            [np.linalg.qr(rng.standard_normal((dim, rank)))[0].T for _ in range(centres)]
        ).astype(np.float32)

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        for s in range(0, n, 100_000):
            e = min(s + 100_000, n)
            labels = rng.integers(0, len(self.centres), e - s)
            x = rng.standard_normal((e - s, self.dim), dtype=np.float32)
            x *= np.float32(self.noise / np.sqrt(self.dim))
            z = rng.standard_normal((e - s, self.rank), dtype=np.float32)
            z *= np.float32(self.spread / np.sqrt(self.rank))
            order = np.argsort(labels, kind="stable")
            bounds = np.searchsorted(labels[order], np.arange(len(self.centres) + 1))
            for c in range(len(self.centres)):
                rows = order[bounds[c] : bounds[c + 1]]
                x[rows] += self.centres[c] + z[rows] @ self.bases[c]
            out[s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    def describe(self) -> str:
        return (
            f"{len(self.centres)} clusters; point = centre (N(0, I), normalized) + a draw of "
            f"norm ~{self.spread} in the cluster's own random {self.rank}-dim subspace + "
            f"isotropic noise of norm ~{self.noise}, normalized"
        )


def docstrings(limit: int, cache: Path) -> list[str]:
    """Paragraphs of the docstrings of installed packages, whitespace-normalized, >= 40 chars,
    deduplicated, in file order (cached in ``cache``: walking site-packages takes minutes)."""
    import sysconfig

    if cache.is_file():
        texts = [json.loads(line) for line in cache.read_text("utf-8").splitlines()]
        if len(texts) >= limit:
            return texts[:limit]
    root = Path(sysconfig.get_paths()["purelib"])
    seen: set[str] = set()
    texts = []
    for file in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(file.read_text(encoding="utf-8", errors="ignore"))
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in ast.walk(tree):
            if not isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                continue
            doc = ast.get_docstring(node)
            for paragraph in (doc or "").strip().split("\n\n"):
                text = " ".join(paragraph.split())[:500]
                if len(text) >= 40 and text not in seen:
                    seen.add(text)
                    texts.append(text)
        if len(texts) >= limit:
            break
    data = "".join(json.dumps(t) + "\n" for t in texts).encode()
    atomic_write(cache, lambda f: f.write(data))
    return texts[:limit]


# ---------------------------------------------------------------------------- exact
def exact_topk(db: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """True top-k row indices by cosine (rows of db and queries unit-norm), BLAS in blocks."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for s in range(0, len(db), 200_000):
        sims = queries @ db[s : s + 200_000].T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(sims, top, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, top + s], axis=1)
        pick = np.argsort(-cand_s, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, pick, axis=1)
        best_i = np.take_along_axis(cand_i, pick, axis=1)
    return best_i


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(
        np.mean(
            [
                len(set(f.tolist()) & set(t.tolist())) / len(t)
                for f, t in zip(found, truth, strict=False)
            ]
        )
    )


def ann_part(
    name: str, space: Space, queries: np.ndarray, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Build the index, then recall@10 and queries/s of HNSW vs exact search."""
    log(f"{name}: indexing {space.n:,} × {space.dim} ({args.dtype}, M={args.connectivity}, "
        f"ef_add={args.expansion_add})")  # fmt: skip
    t0 = time.perf_counter()
    index = Index.build(
        space, workdir / f"{name}-index", dtype=args.dtype, connectivity=args.connectivity,
        expansion_add=args.expansion_add, progress=False,
    )  # fmt: skip
    build_s = time.perf_counter() - t0
    log(f"{name}: built in {build_s:.0f} s")
    db = np.asarray(space.vectors, dtype=np.float32)
    nq_truth = min(len(queries), args.truth_queries)
    t0 = time.perf_counter()
    truth = exact_topk(db, queries[:nq_truth], K)
    blas_s = time.perf_counter() - t0
    blas_qps = nq_truth / blas_s
    nq_exact = min(len(queries), args.exact_queries)
    t0 = time.perf_counter()
    index.ann.search(queries[:nq_exact], K, exact=True, threads=args.threads)
    usearch_exact_qps = nq_exact / (time.perf_counter() - t0)
    exact_qps = max(blas_qps, usearch_exact_qps)
    log(f"{name}: exact {exact_qps:.1f} q/s (BLAS {blas_qps:.1f}, usearch {usearch_exact_qps:.1f})")
    curve = []
    for ef in args.ef:
        index.ann.expansion_search = ef
        t0 = time.perf_counter()
        m = index.ann.search(queries, K, threads=args.threads)
        qps = len(queries) / (time.perf_counter() - t0)
        found = [np.asarray(m.keys[i][: m.counts[i]], dtype=np.int64) for i in range(nq_truth)]
        r = recall(found, truth)
        curve.append({"ef_search": ef, "recall_at_10": round(r, 4), "queries_per_s": round(qps, 1),
                      "speedup_vs_exact": round(qps / exact_qps, 1)})  # fmt: skip
        log(f"{name}: ef={ef} recall@10 {r:.4f} {qps:.0f} q/s ({qps / exact_qps:.1f}x exact)")
    # also through the public API (one query at a time, with encoding-free vectors)
    index.ann.expansion_search = args.ef[0]
    ok = [c for c in curve if c["recall_at_10"] >= 0.95 and c["speedup_vs_exact"] >= 10]
    best = ok[0] if ok else max(curve, key=lambda c: (c["recall_at_10"], c["queries_per_s"]))
    return {
        "n": space.n,
        "dim": space.dim,
        "dtype": args.dtype,
        "hnsw": index.manifest["hnsw"],
        "build_seconds": round(build_s, 1),
        "build_vectors_per_s": round(space.n / build_s, 1),
        "queries": len(queries),
        "truth_queries": nq_truth,
        "exact_queries_per_s": {
            "blas_float32": round(blas_qps, 2),
            "usearch_exact": round(usearch_exact_qps, 2),
            "anchor": round(exact_qps, 2),
        },
        "threads": args.threads,
        "curve": curve,
        "chosen": best,
    }


def text_space(texts: list[str], encoder: str, out: Path, parts: int = 0) -> Space:
    """Encode texts into a space through ``repspace.encode`` (ids doc-0, doc-1, ...); with
    ``parts``, a stored field ``part`` (``p0``, ``p1``, ... round robin) to filter on."""
    from repspace import encode

    corpus = out.with_suffix(".jsonl")
    with open(corpus, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            row = {"id": f"doc-{i}", "text": t} | ({"part": f"p{i % parts}"} if parts else {})
            f.write(json.dumps(row) + "\n")
    fields = ["part"] if parts else []
    return encode(corpus, encoder, out, progress=False, shard_size=50_000, fields=fields)


# --------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


JSON = {"content-type": "application/json"}
BAD = [
    ("GET", "/search", {"params": {"q": ""}}),
    ("GET", "/search", {"params": {"q": "  "}}),
    ("GET", "/search", {"params": {"q": "x", "k": "0"}}),
    ("GET", "/search", {"params": {"q": "x", "k": "-5"}}),
    ("GET", "/search", {"params": {"q": "x", "k": "99999999999"}}),
    ("GET", "/search", {"params": {"q": "x", "k": "ten"}}),
    ("GET", "/search", {"params": {"q": "x" * 100_00}}),
    ("GET", "/search", {"params": {"q": "x", "filter": "nofield"}}),
    ("GET", "/search", {"params": {"q": "x", "filter": "missing=1"}}),
    ("GET", "/search", {"params": {"q": "x", "space": "../../etc/passwd"}}),
    ("GET", "/search", {}),
    ("POST", "/search", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/search", {"content": b"[]", "headers": {"content-type": "application/json"}}),
    ("POST", "/search", {"json": {"query": "x", "k": 10**9}}),
    ("POST", "/search", {"json": {"query": 5}}),
    ("POST", "/search", {"json": {"k": 3}}),
    ("POST", "/search", {"json": {"query": "x", "filter": {"a": {"b": 1}}}}),
    ("POST", "/search", {"content": b"\xff\xfe\x00", "headers": JSON}),
    ("POST", "/search", {"content": b"x" * 1_000_000, "headers": JSON}),
    ("GET", "/spaces/nope", {}),
    ("GET", "/spaces/..%2F..%2Fetc", {}),
    ("GET", "/spaces/server-index/neighbors/not-an-id", {}),
    ("GET", "/spaces/server-index/neighbors/doc-1", {"params": {"k": "100000"}}),
    ("GET", "/spaces/server-index/reports/manifest.json", {}),
    ("GET", "/ui/..%2F..%2Fserver.py", {}),
]  # fmt: skip


async def load(
    url: str, queries: list[str], total: int, concurrency: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``total`` searches (GET and POST alternately, ``extra`` parameters on each), then BAD."""
    import httpx

    extra = extra or {}
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            for i in counter:
                q = queries[i % len(queries)]
                t0 = time.perf_counter()
                try:
                    if i % 2:
                        r = await client.post("/search", json={"query": q, "k": K, **extra})
                    else:
                        r = await client.get("/search", params={"q": q, "k": K, **extra})
                    ok = r.status_code == 200 and len(r.json()["hits"]) == K
                    if not ok:
                        errors.append(f"{r.status_code}: {r.text[:100]}")
                except httpx.HTTPError as e:
                    errors.append(repr(e))
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        bad = []
        for method, path, kw in BAD:
            r = await client.request(method, path, **kw)
            try:
                has_error = isinstance(r.json().get("error"), str)
            except (ValueError, AttributeError):
                has_error = False
            bad.append({"request": f"{method} {path} {str(kw)[:80]}", "status": r.status_code,
                        "json_error": has_error})  # fmt: skip
    ms = np.array(latencies) * 1000
    return {
        "requests": total,
        "concurrency": concurrency,
        "errors": len(errors),
        "error_samples": errors[:5],
        "wall_seconds": round(wall, 2),
        "requests_per_s": round(total / wall, 1),
        "latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 1),
            "p90": round(float(np.percentile(ms, 90)), 1),
            "p99": round(float(np.percentile(ms, 99)), 1),
            "max": round(float(ms.max()), 1),
        },
        "bad_requests": bad,
    }


def server_part(
    texts: list[str], queries: list[str], workdir: Path, args: argparse.Namespace
) -> dict:
    n = min(args.server_docs, len(texts))
    log(f"server: encoding {n:,} docs with {args.encoder}")
    t0 = time.perf_counter()
    space = text_space(texts[:n], args.encoder, workdir / "server")
    encode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    Index.build(
        space, workdir / "server-index", dtype=args.dtype, connectivity=args.connectivity,
        expansion_add=args.expansion_add, progress=False,
    )  # fmt: skip
    build_s = time.perf_counter() - t0
    result = serve_load(workdir / "server-index", queries, args.requests, args.concurrency)
    return {
        "docs": n,
        "encoder": args.encoder,
        "encode_seconds": round(encode_s, 1),
        "index_build_seconds": round(build_s, 1),
        **result,
    }


def serve_load(
    index: Path, queries: list[str], requests: int, concurrency: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``repspace serve INDEX`` in a subprocess under :func:`load`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "repspace", "serve", str(index), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(
                    f"server did not start: {proc.stderr.read() if proc.stderr else ''}"
                )
            time.sleep(0.3)
        log(f"server: up; {requests:,} requests at concurrency {concurrency}")
        result = asyncio.run(
            asyncio.wait_for(load(url, queries, requests, concurrency, extra), timeout=900)
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    log(f"server: {result['errors']} errors, p50 {result['latency_ms']['p50']} ms, "
        f"p99 {result['latency_ms']['p99']} ms")  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic rows")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--centres", type=int, default=1_000)
    parser.add_argument("--rank", type=int, default=32, help="dims of each cluster's subspace")
    parser.add_argument("--spread", type=float, default=0.8, help="in-cluster norm vs centre")
    parser.add_argument("--noise", type=float, default=0.2, help="isotropic noise norm")
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--truth-queries", type=int, default=300)
    parser.add_argument("--exact-queries", type=int, default=100)
    parser.add_argument("--dtype", default="f16", choices=["f32", "f16", "i8"])
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--expansion-add", type=int, default=128)
    parser.add_argument("--ef", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--real-docs", type=int, default=200_000)
    parser.add_argument(
        "--encoder", default="m2v",
        help="encoder spec of the real space and the server; m2v = a model2vec distillation of "
        "MiniLM made offline (bench/evaluate.py's, a static encoder)",
    )  # fmt: skip
    parser.add_argument("--server-docs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--parts", nargs="+", default=["ann_synthetic", "ann_real", "server"])
    parser.add_argument(
        "--name", default="serve", help="results file bench/results/NAME.json (parts merge in)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    path = RESULTS / f"{args.name}.json"
    result: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    result.update({"benchmark": "serve", "machine": machine_info()})
    result.setdefault("params", {}).update({k: v for k, v in vars(args).items()})
    started = time.perf_counter()
    encoder_name = args.encoder
    if args.encoder == "m2v":
        from evaluate import distilled_model

        args.encoder = f"static:{distilled_model(REPO / 'build' / 'bench')[0]}"
        encoder_name = "static: model2vec distillation of MiniLM (bench/evaluate.py)"
    result["params"]["encoder"] = encoder_name
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        if "ann_synthetic" in args.parts:
            mix = Mixture(args.dim, args.centres, args.rank, args.spread, args.noise)
            log(f"synthetic: generating {args.n:,} × {args.dim}")
            x = mix.sample(args.n, seed=1)
            q = mix.sample(args.queries, seed=2)
            twonn = intrinsic_dimension(x[:: max(1, args.n // 10_000)])["twonn"]
            space = Space.from_arrays(work / "synthetic", [str(i) for i in range(args.n)], x,
                                      shard_size=250_000)  # fmt: skip
            del x
            part = ann_part("synthetic", space, q, work, args)
            part["data"] = mix.describe()
            part["intrinsic_dim_twonn_10k_sample"] = round(twonn, 1)
            result["ann_synthetic"] = part
            write_result(args.name, finish(result))
        texts: list[str] = []
        if "ann_real" in args.parts or "server" in args.parts:
            log("real: collecting docstrings of installed packages")
            cache = REPO / "build" / "bench" / "docstrings.jsonl"
            texts = docstrings(max(args.real_docs, args.server_docs) + args.queries, cache)
            random.Random(0).shuffle(texts)
            log(f"real: {len(texts):,} distinct docstrings")
        held_out = texts[-args.queries :]
        corpus = texts[: -args.queries]
        if "ann_real" in args.parts:
            encoder = load_encoder(args.encoder)
            n = min(args.real_docs, len(corpus))
            space = text_space(corpus[:n], args.encoder, work / "real")
            twonn = intrinsic_dimension(np.asarray(space.vectors[:: max(1, n // 10_000)]))
            part = ann_part("real", space, encoder.encode(held_out, batch_size=4096), work, args)
            part["data"] = (f"{n:,} paragraphs of docstrings of the installed Python packages "
                            f"(deduplicated), encoded with {encoder_name}; queries: "
                            f"{len(held_out)} held-out paragraphs")  # fmt: skip
            part["intrinsic_dim_twonn_10k_sample"] = round(twonn["twonn"], 1)
            result["ann_real"] = part
            write_result(args.name, finish(result))
        if "server" in args.parts:
            result["server"] = {
                **server_part(corpus, held_out, work, args),
                "encoder": encoder_name,
            }
    result["seconds_total_this_run"] = round(time.perf_counter() - started, 1)
    out = write_result(args.name, finish(result))
    log(f"wrote {out}")
    print(json.dumps(result["targets"], indent=1))


def finish(result: dict[str, Any]) -> dict[str, Any]:
    targets = []
    for part in ("ann_synthetic", "ann_real"):
        if part in result:
            c = result[part]["chosen"]
            targets.append({"target": f"{part}: recall@10 vs exact (ef_search={c['ef_search']})",
                            "measured": c["recall_at_10"], "goal": ">= 0.95",
                            "pass": c["recall_at_10"] >= 0.95})  # fmt: skip
            targets.append({"target": f"{part}: HNSW / exact queries per second",
                            "measured": c["speedup_vs_exact"], "goal": ">= 10",
                            "pass": c["speedup_vs_exact"] >= 10})  # fmt: skip
    if "server" in result:
        s = result["server"]
        targets.append({"target": f"server: errors in {s['requests']} /search at concurrency "
                        f"{s['concurrency']}", "measured": s["errors"], "goal": "0",
                        "pass": s["errors"] == 0})  # fmt: skip
        targets.append({"target": "server: p50 / p99 latency (ms)",
                        "measured": [s["latency_ms"]["p50"], s["latency_ms"]["p99"]],
                        "goal": "reported", "pass": True})  # fmt: skip
        statuses = [b["status"] for b in s["bad_requests"]]
        ok = all(400 <= st < 500 for st in statuses) and all(
            b["json_error"] for b in s["bad_requests"]
        )
        targets.append({"target": f"server: {len(statuses)} malformed/oversized requests -> 4xx "
                        "with a JSON error", "measured": sorted(set(statuses)),
                        "goal": "all 4xx, never 5xx", "pass": ok})  # fmt: skip
    result["targets"] = targets
    return result


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
