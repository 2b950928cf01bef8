"""The server under abuse (reliability issue, point 5): ``repspace serve`` on loopback over a
20,000-document hybrid index.

1. Unloaded: 500 sequential searches of the soak's valid mix (:func:`valid_params`) after a
   warm-up, through the soak's own client: the reference p99.
2. Capacity: closed loop at concurrency 16 for a minute, the soak's mix (requests/s).
3. A load curve (``--curve``, ``--curve-minutes`` each): the valid p99 at shares of capacity.
4. The soak: ``--minutes`` (10) of an open-loop (Poisson) arrival stream at ``--load`` of
   capacity, a bounded mix: valid searches (hybrid, dense, lexical, a fifth filtered on a
   stored field), malformed ones (bad parameters, broken JSON), oversized bodies, and two slow
   clients throughout (a request trickled byte by byte, or a connection opened and left idle
   until the server drops it). Targets: no 5xx, p99 of the valid searches within 2x the
   unloaded p99, server RSS growth <= 10% from the end of warm-up to the end of the soak.

Why open loop at a share of capacity: a closed loop at concurrency 16 keeps a queue of 16 in
front of a CPU-bound server, so its p99 measures the queue, not the server; a service is sized
to run below capacity, and what the target asks is whether abuse and time degrade the latency
of valid requests at the load it is sized for. The saturation p99 is recorded too. The load is
a parameter: the published run soaks at 0.3, the highest share at which the curve met 2x.

``--pin`` (the default where two CPUs or more are allowed): the server on the first CPU, this
load generator (a Python asyncio client, as CPU-hungry as the server) on the others, so the
client does not take the server's core. The reference is measured through the same asyncio
client: its own few milliseconds per request are in both figures (an earlier reference taken
with a synchronous client was ~3 ms faster, which made every loaded p50 look doubled).

Run from the repository root: ``.venv/bin/python bench/soak.py --load 0.3``; writes
``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import REPO, machine_info, write_result
from serve import docstrings, free_port, text_space


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def slow_client(port: int, trickle: bool) -> str:
    """A client that trickles a request a byte at a time, or opens a connection and idles."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if trickle:
            request = (
                f"GET /search?q=slow+client&k=5 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            ).encode()
            for byte in request:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.02)
            line = await asyncio.wait_for(reader.readline(), 30)
            return line.decode(errors="replace").split(" ")[1] if line else "closed"
        await asyncio.sleep(8)  # idle: the server may close it, which is fine
        return "idle"
    finally:
        writer.close()


async def soak(url: str, port: int, queries: list[str], minutes: float, concurrency: int,
               seed: int, rate: float | None = None) -> dict[str, Any]:  # fmt: skip
    """``concurrency`` closed-loop workers, or with ``rate`` an open-loop Poisson stream of
    that many requests/s (at most ``concurrency`` x 8 in flight)."""
    import httpx

    rng = random.Random(seed)
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    deadline = time.monotonic() + minutes * 60
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one() -> None:
            r = rng.random()
            q = rng.choice(queries)
            t0 = time.perf_counter()
            if r < 0.70:
                kind = "valid"
                resp = await client.get("/search", params=valid_params(rng, q))
                latencies.append(time.perf_counter() - t0)
            elif r < 0.85:
                kind = "malformed"
                bad = rng.choice(
                    [
                        {"q": q, "k": "-1"},
                        {"q": q, "alpha": "7"},
                        {"q": ""},
                        {"q": q, "mode": "sparse"},
                        {"q": q, "filter": "nofield"},
                    ]
                )
                resp = await client.get("/search", params=bad)
            elif r < 0.95:
                kind = "broken-json"
                resp = await client.post(
                    "/search", content=b'{"query": ', headers={"content-type": "application/json"}
                )
            else:
                kind = "oversized"
                resp = await client.post(
                    "/search", content=b"x" * 200_000, headers={"content-type": "application/json"}
                )
            kinds[kind] = kinds.get(kind, 0) + 1
            key = f"{kind}:{resp.status_code}"
            statuses[key] = statuses.get(key, 0) + 1

        async def slow_worker() -> None:
            while time.monotonic() < deadline:
                trickle = rng.random() < 0.5
                try:
                    status = await slow_client(port, trickle)
                except (TimeoutError, OSError) as e:
                    status = type(e).__name__
                key = f"slow-{'trickle' if trickle else 'idle'}:{status}"
                statuses[key] = statuses.get(key, 0) + 1

        async def guarded() -> None:
            try:
                await one()
            except httpx.HTTPError as e:
                statuses[f"error:{type(e).__name__}"] = (
                    statuses.get(f"error:{type(e).__name__}", 0) + 1
                )

        async def worker() -> None:
            while time.monotonic() < deadline:
                await guarded()

        async def arrivals() -> None:
            assert rate is not None
            pending: set[asyncio.Task] = set()
            at = time.monotonic()
            while at < deadline:
                at += rng.expovariate(rate)
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                if len(pending) >= concurrency * 8:
                    statuses["dropped:client"] = statuses.get("dropped:client", 0) + 1
                    continue
                task = asyncio.create_task(guarded())
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)

        load = [arrivals()] if rate else [worker() for _ in range(concurrency)]
        await asyncio.gather(*load, *(slow_worker() for _ in range(2)))
    seconds = minutes * 60
    ms = np.array(latencies) * 1000
    return {
        "requests": sum(kinds.values()),
        "requests_per_s": round(sum(kinds.values()) / seconds, 1),
        "by_kind": kinds,
        "statuses": dict(sorted(statuses.items())),
        "server_errors_5xx": sum(v for k, v in statuses.items() if k.split(":")[1].startswith("5")),
        "valid_latency_ms": {
            "p50": round(float(np.percentile(ms, 50)), 1),
            "p99": round(float(np.percentile(ms, 99)), 1),
        },
    }


def valid_params(rng: random.Random, q: str) -> dict[str, Any]:
    """A valid search of the soak's mix: hybrid, dense or lexical, a fifth of them filtered."""
    params: dict[str, Any] = {"q": q, "k": 10, "mode": rng.choice(["hybrid", "hybrid", "dense",
                                                                   "lexical"])}  # fmt: skip
    if rng.random() < 0.2:
        params["filter"] = f"part=p{rng.randrange(4)}"
    return params


async def unloaded_p99(url: str, queries: list[str], n: int, seed: int) -> dict[str, float]:
    """Sequential searches of the soak's valid mix (:func:`valid_params`) through the soak's
    client (httpx's asyncio client: its own overhead is in both figures), after a warm-up."""
    import httpx

    rng = random.Random(seed)
    times = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for q in queries[:100]:  # warm-up
            (await client.get("/search", params=valid_params(rng, q))).raise_for_status()
        for q in queries[:n]:
            params = valid_params(rng, q)
            t0 = time.perf_counter()
            (await client.get("/search", params=params)).raise_for_status()
            times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    return {"p50": round(float(np.percentile(ms, 50)), 1),
            "p99": round(float(np.percentile(ms, 99)), 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--load", type=float, default=0.3, help="share of capacity to soak at")
    ap.add_argument("--name", default="soak", help="results file: bench/results/NAME.json")
    ap.add_argument(
        "--curve",
        default="0.1,0.2,0.3,0.5",
        help="shares of capacity to measure the valid p99 at, before the soak",
    )
    ap.add_argument("--curve-minutes", type=float, default=1.5)
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction,
                    default=len(os.sched_getaffinity(0)) >= 2,
                    help="server on the first CPU, this client on the others")  # fmt: skip
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, client_cpus = (cpus[:1], cpus[1:]) if args.pin else (cpus, cpus)
    from evaluate import distilled_model
    from repspace.index import Index

    texts = docstrings(args.docs + 500, REPO / "build" / "bench" / "docstrings.jsonl")
    random.Random(0).shuffle(texts)
    queries = [" ".join(t.split()[:8]) for t in texts[args.docs :]]
    spec = f"static:{distilled_model(REPO / 'build' / 'bench')[0]}"
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        space = text_space(texts[: args.docs], spec, work / "space", parts=4)
        Index.build(space, work / "index", progress=False)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "repspace", "serve", str(work / "index"), "--port",
                   str(port)]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": str(len(server_cpus))}
        pin_server = lambda: os.sched_setaffinity(0, server_cpus)  # noqa: E731
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env,
                                preexec_fn=pin_server)  # fmt: skip
        os.sched_setaffinity(0, client_cpus)
        try:
            assert proc.stdout is not None
            startup = proc.stdout.readline().strip()
            log(startup)
            unloaded = asyncio.run(unloaded_p99(url, queries, 1000, args.seed))
            log(f"unloaded: {unloaded}")
            saturated = asyncio.run(soak(url, port, queries, 1.0, args.concurrency,
                                         args.seed + 1))  # fmt: skip
            capacity = saturated["requests_per_s"]
            curve = []
            for i, share in enumerate(float(x) for x in args.curve.split(",") if x):
                step = asyncio.run(soak(url, port, queries, args.curve_minutes, args.concurrency,
                                        args.seed + 2 + i, rate=share * capacity))  # fmt: skip
                p99 = step["valid_latency_ms"]["p99"]
                curve.append({"load": share, "requests_per_s": step["requests_per_s"],
                              "valid_latency_ms": step["valid_latency_ms"],
                              "p99_ratio": round(p99 / unloaded["p99"], 2),
                              "server_errors_5xx": step["server_errors_5xx"]})  # fmt: skip
                log(f"load {share:.0%}: {step['valid_latency_ms']}")
            rate = args.load * capacity
            log(f"capacity (closed loop, concurrency {args.concurrency}): "
                f"{saturated['requests_per_s']} requests/s; soaking at {rate:.0f}/s")  # fmt: skip
            rss_start = rss_kib(proc.pid)
            log(f"soak: {args.minutes} minutes, RSS {rss_start} KiB")
            result = asyncio.run(soak(url, port, queries, args.minutes, args.concurrency,
                                      args.seed, rate=rate))  # fmt: skip
            rss_end = rss_kib(proc.pid)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
    growth = (rss_end - rss_start) / rss_start
    p99_ratio = result["valid_latency_ms"]["p99"] / unloaded["p99"]
    out = {
        "benchmark": "soak",
        "machine": machine_info(),
        "params": vars(args),
        "cpus": {"server": server_cpus, "client": client_cpus},
        "startup": startup,
        "unloaded_ms": unloaded,
        "saturation": saturated,
        "load_curve": curve,
        "soak_rate_per_s": round(rate, 1),
        "soak": result,
        "rss_kib": {"after_warm_up": rss_start, "end": rss_end, "growth": round(growth, 4)},
        "targets": [
            {
                "target": "no 5xx during the soak",
                "value": result["server_errors_5xx"],
                "met": result["server_errors_5xx"] == 0,
            },
            {
                "target": f"valid p99 at {args.load:.0%} of capacity, abuse included, "
                "<= 2x unloaded p99",
                "value": round(p99_ratio, 2),
                "met": p99_ratio <= 2,
            },
            {"target": "RSS growth <= 10%", "value": round(growth, 4), "met": growth <= 0.10},
            {
                "target": "highest load of the curve with valid p99 <= 2x unloaded (no 5xx)",
                "value": max(
                    (
                        c["load"]
                        for c in curve
                        if c["p99_ratio"] <= 2 and not c["server_errors_5xx"]
                    ),
                    default=None,
                ),
                "met": None,  # reported, not a target of the issue
            },
        ],
    }
    write_result(args.name, out)
    print(json.dumps(out["targets"], indent=1))


if __name__ == "__main__":
    main()
