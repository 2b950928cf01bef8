"""``make demo``: a space over the Python standard library's documentation, built offline.

Every machine with Python has this corpus: one record per documented public module, class,
function and method of the stdlib, with its qualified name as id. The demo writes it as JSONL,
encodes it with ``st:all-MiniLM-L6-v2`` through the CLI, shows ``repspace info``, answers a few
questions with the nearest documented objects, writes the ``repspace inspect`` HTML report and
metrics (``inspect.json``), builds the search index and, with ``--serve``, serves it with the
web UI.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import pkgutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

# Modules that open windows, print on import, start services or only exist on other systems.
_SKIP = {
    "antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "ensurepip", "lib2to3",
    "pydoc_data", "test", "msvcrt", "winreg", "winsound", "nt", "_winapi", "asyncio.windows_events",
    "sre_compile", "sre_constants", "sre_parse", "xxlimited", "xxsubtype", "distutils",
}  # fmt: skip
QUERIES = [
    "parse a date from a string",
    "read a gzip file",
    "run a shell command and capture its output",
    "make a temporary directory",
    "compute a sha256 checksum",
    "sort a list in place by a key",
]
MAX_CHARS = 400


def _summary(doc: str) -> str:
    """The first paragraph of a docstring, whitespace collapsed and cut at MAX_CHARS."""
    para = doc.strip().split("\n\n")[0]
    text = " ".join(para.split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _import(name: str) -> ModuleType | None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except Exception:  # unavailable on this platform or build
            return None


def _modules() -> Iterator[ModuleType]:
    """Public stdlib modules and the public modules of stdlib packages."""
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in _SKIP or (module := _import(name)) is None:
            continue
        yield module
        for sub in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=f"{name}."):
            parts = sub.name.split(".")
            if any(p.startswith("_") or p in ("test", "tests") for p in parts) or sub.name in _SKIP:
                continue
            if (submodule := _import(sub.name)) is not None:
                yield submodule


def stdlib_records() -> Iterator[dict[str, str]]:
    """Records (id, text, kind) for the documented public API of the standard library."""
    seen: set[str] = set()

    def record(qualname: str, kind: str, obj: object) -> Iterator[dict[str, str]]:
        doc = inspect.getdoc(obj)
        if not doc or qualname in seen:
            return
        seen.add(qualname)
        yield {"id": qualname, "text": f"{qualname}: {_summary(doc)}", "kind": kind}

    for module in _modules():
        yield from record(module.__name__, "module", module)
        public = getattr(module, "__all__", None) or [
            n for n in dir(module) if not n.startswith("_")
        ]
        for name in public:
            obj = getattr(module, name, None)
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(obj):
                yield from record(f"{module.__name__}.{name}", "class", obj)
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and inspect.isroutine(member):
                        yield from record(f"{module.__name__}.{name}.{attr}", "method", member)
            elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
                yield from record(f"{module.__name__}.{name}", "function", obj)


def write_corpus(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for rec in stdlib_records():
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


def answer(space_dir: Path, queries: list[str], k: int = 3) -> None:
    """Print the k nearest documented objects for each query (exact cosine search)."""
    from repspace.encoders import load_encoder
    from repspace.space import Space

    space = Space.open(space_dir)
    encoder = load_encoder(space.encoder_spec or "")
    vectors = np.asarray(space.vectors)
    texts = space.texts or space.ids
    scores = encoder.encode(queries) @ vectors.T
    for query, row in zip(queries, scores, strict=True):
        print(f"\n? {query}")
        for i in np.argsort(-row)[:k]:
            print(f"  {row[i]:.3f}  {texts[i][:110]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("build/demo"))
    parser.add_argument("--encoder", default="st:all-MiniLM-L6-v2")
    parser.add_argument(
        "--serve",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="End by serving the space's index and web UI (make demo does).",
    )
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    corpus = args.workdir / "stdlib-docs.jsonl"
    space = args.workdir / "stdlib-space"
    n = write_corpus(corpus)
    print(f"corpus: {n:,} documented stdlib objects -> {corpus}")
    cli = [sys.executable, "-m", "repspace"]
    subprocess.run([*cli, "encode", str(corpus), "--encoder", args.encoder, "--out", str(space),
                    "--field", "kind"], check=True)  # fmt: skip
    subprocess.run([*cli, "info", str(space)], check=True)
    answer(space, QUERIES)
    report = args.workdir / "report.html"
    print(flush=True)
    inspected = subprocess.run(
        [*cli, "inspect", str(space), "--report", str(report), "--color-by", "kind", "--json"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (args.workdir / "inspect.json").write_text(inspected, encoding="utf-8")
    show_metrics(json.loads(inspected))
    print(f"\nreport on the space's geometry: {report.resolve()}", flush=True)
    index = args.workdir / "stdlib-index"
    subprocess.run([*cli, "index", str(space), "--out", str(index), "--overwrite", "--quiet"],
                   check=True)  # fmt: skip
    subprocess.run([*cli, "search", str(index), QUERIES[1], "-k", "3"], check=True)
    command = [*cli, "serve", str(index), "--port", str(args.port)]
    if not args.serve:
        print(f"\nexplore it in a browser: repspace serve {index} --port {args.port}", flush=True)
        return
    print(f"\nserving the demo space at http://127.0.0.1:{args.port}/ (Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run(command, check=False)


def show_metrics(result: dict) -> None:
    """A few lines of ``repspace inspect``: each metric's label, value and scope."""
    from repspace.metrics.catalog import INSPECT
    from repspace.report import fmt

    for key, value in result["metrics"].items():
        if key in INSPECT:
            print(f"  {INSPECT[key].label:<40} {fmt(value):>12}  {result['scope'].get(key, '')}")


if __name__ == "__main__":
    main()
