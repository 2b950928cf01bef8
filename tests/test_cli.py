from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line_error, run, synthetic_docs, write_jsonl


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("repspace ")
    helptext = run("--help").stdout
    for command in ("encode", "import", "info"):
        assert command in helptext


def test_encode_then_info_json(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(30))
    result = run("encode", corpus, "--encoder", "hash:24", "--out", tmp_path / "s")
    assert result.returncode == 0, result.stderr
    assert "wrote 30 vectors (dim 24)" in result.stdout
    info = json.loads(run("info", tmp_path / "s", "--json", "--verify").stdout)
    assert (
        info["n"] == 30 and info["dim"] == 24 and info["encoder"] == "hash:24" and info["verified"]
    )
    assert "hash:24" in run("info", tmp_path / "s").stdout


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b'{"id": "a", "text": "x"}\n{"id": "b"}\n', ["c.jsonl:2", "missing field 'text'"]),
        (
            b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n',
            ["c.jsonl:2", "duplicate id 'a'"],
        ),
        (b'{"id": "a", "text": ""}\n', ["c.jsonl:1", "empty text"]),
        (b'{"id": "a", "text": "\xff"}\n', ["c.jsonl:1", "invalid UTF-8"]),
        (b'{"id": "a", "text": "x"\n', ["c.jsonl:1", "invalid JSON"]),
    ],
)
def test_bad_corpus_is_one_line_exit_2(tmp_path: Path, content: bytes, needles: list[str]) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(content)
    assert_one_line_error(
        run("encode", corpus, "--encoder", "hash:8", "--out", tmp_path / "s"), *needles
    )


def test_on_error_skip_counts(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b'{"id": "a", "text": "x"}\n{"id": "b"}\n{"id": "c", "text": "z"}\n')
    result = run(
        "encode", corpus, "--encoder", "hash:8", "--out", tmp_path / "s", "--on-error", "skip"
    )
    assert result.returncode == 0 and "skipped 1 bad records" in result.stdout
    assert json.loads(run("info", tmp_path / "s", "--json").stdout)["skipped"] == 1


def test_other_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "c.jsonl", synthetic_docs(5))
    assert_one_line_error(
        run("encode", tmp_path / "nope.jsonl", "--encoder", "hash:8", "--out", tmp_path / "s"),
        "no such file",
    )
    assert_one_line_error(
        run("encode", corpus, "--encoder", "bert", "--out", tmp_path / "s"), "encoder spec 'bert'"
    )
    assert_one_line_error(run("info", tmp_path), "not a repspace space")
    run("encode", corpus, "--encoder", "hash:8", "--out", tmp_path / "s")
    assert_one_line_error(
        run("encode", corpus, "--encoder", "hash:9", "--out", tmp_path / "s"), "--overwrite"
    )
    np.save(tmp_path / "v.npy", np.ones((3, 2), dtype=np.float32))
    assert_one_line_error(run("import", tmp_path / "v.npy", "--out", tmp_path / "i"), "pass --ids")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = run("encode", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for bad in (["--anchors", "half"], ["--method", "zip"]):
        result = run("align", tmp_path, tmp_path, *bad)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert bad[0] in result.stderr


def test_import_command(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "ids.txt").write_text("x\ny\nz\n", encoding="utf-8")
    result = run(
        "import",
        tmp_path / "v.npy",
        "--ids",
        tmp_path / "ids.txt",
        "--out",
        tmp_path / "s",
        "--model",
        "clip-vit",
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(run("info", tmp_path / "s", "--json").stdout)
    assert info["n"] == 3 and info["encoder"] is None and info["source"]["model"] == "clip-vit"


def test_internal_errors_keep_their_traceback(tmp_path: Path) -> None:
    code = (
        "import repspace.cli as c\n"
        "def boom(*a, **k):\n    raise ZeroDivisionError('bug')\n"
        "import repspace.space\nrepspace.space.Space.open = boom\n"
        "import sys; sys.argv = ['repspace', 'info', '.']\nc.main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert (
        result.returncode == 1
        and "Traceback" in result.stderr
        and "ZeroDivisionError" in result.stderr
    )
