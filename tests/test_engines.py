"""Engine choice without a cluster: unknown engines, the Ray install hint (exit code 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import synthetic_docs, write_jsonl
from repspace.engines import check_engine
from repspace.errors import RepspaceError


def test_unknown_engine_and_stray_address() -> None:
    with pytest.raises(RepspaceError, match="use local or ray"):
        check_engine("spark")
    with pytest.raises(RepspaceError, match="needs --engine ray"):
        check_engine("local", "auto")
    assert check_engine("local") == "local"


def test_without_ray_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repspace.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(RepspaceError, match=r"pip install 'repspace\[ray\]'"):
        check_engine("ray")
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(5))
    out = tmp_path / "s"
    result = CliRunner().invoke(
        app, ["encode", str(corpus), "-e", "hash:8", "-o", str(out), "--engine", "ray"]
    )
    assert isinstance(result.exception, RepspaceError) and "repspace[ray]" in str(result.exception)
    assert not out.exists()  # refused before anything was written
