from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from repspace import Space
from repspace.demo import stdlib_records


def test_stdlib_corpus_is_offline_unique_and_documented() -> None:
    records = list(stdlib_records())
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) > 2000
    by_id = {r["id"]: r for r in records}
    assert by_id["gzip.open"]["kind"] == "function"
    assert by_id["datetime.datetime.strptime"]["text"].startswith("datetime.datetime.strptime: ")
    assert all(r["text"].strip() for r in records)


@pytest.mark.slow
def test_make_demo_job_end_to_end(tmp_path: Path) -> None:
    """The main job: stdlib docs -> real MiniLM space -> info -> answers to the sample queries."""
    result = subprocess.run(
        [sys.executable, "-m", "repspace.demo", "--workdir", str(tmp_path), "--no-serve"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    space = Space.open(tmp_path / "stdlib-space", verify=True)
    assert space.encoder_spec == "st:all-MiniLM-L6-v2" and space.dim == 384 and space.n > 2000
    assert "? read a gzip file" in result.stdout
    answers = result.stdout.split("? read a gzip file")[1].split("?")[0]
    assert "gzip" in answers
    report = tmp_path / "report.html"
    assert report.is_file() and f"report on the space's geometry: {report}" in result.stdout
    assert "RankMe" in result.stdout and "coloured by kind" in report.read_text(encoding="utf-8")
    # the demo ends with the search index (served by `make demo`), and the metrics for its UI
    from repspace.index import Index

    index = Index.open(tmp_path / "stdlib-index")
    assert index.n == space.n and index.fingerprint == space.fingerprint
    assert any("gzip" in h.id for h in index.search("read a gzip file", k=3))
    assert "rankme" in json.loads((tmp_path / "inspect.json").read_text())["metrics"]
    assert f"repspace serve {tmp_path / 'stdlib-index'}" in result.stdout
