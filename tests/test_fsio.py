"""fsio: the output policy (one refusal message, a work directory published atomically), the
JSONL reader (file:line errors) and the UTC timestamp."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from helpers import synthetic_docs, write_jsonl
from repspace.errors import RepspaceError
from repspace.fsio import (
    atomic_write_json,
    building,
    prepare_output,
    publish_dir,
    read_format_json,
    read_jsonl,
    utc_now,
    write_format_json,
)

NOT_EMPTY = "directory is not empty; pass --overwrite or choose another --out"


def _busy(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "old.txt").write_text("old", encoding="utf-8")
    return path


def _leftovers(parent: Path, name: str) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def test_prepare_output_refuses_with_one_message(tmp_path: Path) -> None:
    busy = _busy(tmp_path / "busy")
    with pytest.raises(RepspaceError) as e:
        prepare_output(busy, overwrite=False)
    assert str(e.value) == f"{busy}: {NOT_EMPTY}"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(RepspaceError, match="exists and is not a directory; choose another --out"):
        prepare_output(tmp_path / "file", overwrite=True)
    # a missing or empty directory needs no --overwrite; the work directory is an empty sibling
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new", tmp_path / "empty"):
        work = prepare_output(out, overwrite=False)
        assert work.parent == tmp_path and work.name.startswith(f".{out.name}.")
        assert work.is_dir() and not any(work.iterdir())
        umask = os.umask(0)
        os.umask(umask)
        assert work.stat().st_mode & 0o777 == 0o777 & ~umask
    assert prepare_output(busy, overwrite=True).parent == tmp_path


def test_overwrite_replaces_only_the_same_kind(tmp_path: Path) -> None:
    busy = _busy(tmp_path / "busy")
    with pytest.raises(RepspaceError, match="is not a repspace space; choose another --out"):
        prepare_output(busy, overwrite=True, holds=lambda p: False, what="space")
    assert (busy / "old.txt").read_text(encoding="utf-8") == "old"
    with pytest.raises(RepspaceError, match=NOT_EMPTY):
        prepare_output(busy, overwrite=False, holds=lambda p: True, what="space")


def test_building_publishes_and_a_failure_keeps_the_old_output(tmp_path: Path) -> None:
    out = _busy(tmp_path / "out")
    with pytest.raises(RuntimeError), building(out, overwrite=True) as work:
        (work / "new.txt").write_text("new", encoding="utf-8")
        raise RuntimeError("crash while building")
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert _leftovers(tmp_path, "out") == []

    with building(out, overwrite=True) as work:
        (work / "sub").mkdir()
        atomic_write_json(work / "sub" / "new.json", {"a": 1})
    assert sorted(p.name for p in out.rglob("*")) == ["new.json", "sub"]
    assert _leftovers(tmp_path, "out") == []


def test_publish_dir_replaces_an_existing_directory(tmp_path: Path) -> None:
    out = _busy(tmp_path / "out")
    work = prepare_output(out, overwrite=True)
    (work / "new.txt").write_text("new", encoding="utf-8")
    publish_dir(work, out)
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert not work.exists() and _leftovers(tmp_path, "out") == []


def test_atomic_files_get_the_ordinary_mode(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "a.json", {})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_commands_share_the_message_and_keep_the_old_output(tmp_path: Path) -> None:
    from repspace.evaluation.generators import make_task
    from repspace.index.index import Index
    from repspace.selection.pipeline import select
    from repspace.space.store import Space

    docs = write_jsonl(tmp_path / "docs.jsonl", synthetic_docs(60))
    space = Space.from_arrays(tmp_path / "s", ["a", "b"], np.eye(2))
    Index.build(space, tmp_path / "ix", progress=False)
    make_task(docs, "split-half", tmp_path / "task")
    select(docs, docs, 5, tmp_path / "sel", progress=False, jobs=1, min_tokens=0)
    attempts = {
        "s": lambda: Space.from_arrays(tmp_path / "s", ["c"], np.eye(2)[:1]),
        "ix": lambda: Index.build(space, tmp_path / "ix", progress=False),
        "task": lambda: make_task(docs, "split-half", tmp_path / "task"),
        "sel": lambda: select(
            docs, docs, 5, tmp_path / "sel", progress=False, jobs=1, min_tokens=0
        ),
    }
    for name, attempt in attempts.items():
        before = sorted(p.name for p in (tmp_path / name).rglob("*"))
        with pytest.raises(RepspaceError) as e:
            attempt()
        assert str(e.value) == f"{tmp_path / name}: {NOT_EMPTY}"
        assert sorted(p.name for p in (tmp_path / name).rglob("*")) == before


def test_make_task_failure_leaves_the_old_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repspace.evaluation import generators

    docs = write_jsonl(tmp_path / "docs.jsonl", synthetic_docs(60))
    out = tmp_path / "task"
    generators.make_task(docs, "split-half", out)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def fail(path: Path, rows: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(generators, "_write_jsonl", fail)
    with pytest.raises(OSError, match="disk full"):
        generators.make_task(docs, "split-half", out, seed=1, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert _leftovers(tmp_path, "task") == []


def test_read_jsonl_streams_objects_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  \n# note\n{"b": "\xc3\xa9"}\n')
    with pytest.raises(RepspaceError, match=rf"{re.escape(str(path))}:4: invalid JSON"):
        list(read_jsonl(path))
    assert list(read_jsonl(path, comments=True)) == [(1, {"a": 1}), (5, {"b": "é"})]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1}\n{"a": "\xff"}\n', "a.jsonl:2: invalid UTF-8 at byte 7"),
        (b'{"a": 1}\n{"a": \n', "a.jsonl:2: invalid JSON (Expecting value)"),
        (b'{"a": 1}\n[1, 2]\n', "a.jsonl:2: expected a JSON object, got list"),
        (b'{"a": 1}\n"text"\n', "a.jsonl:2: expected a JSON object, got str"),
    ],
)
def test_read_jsonl_errors_name_file_and_line(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(data)
    rows = read_jsonl(path)
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(RepspaceError) as e:
        list(rows)
    assert str(e.value) == f"{tmp_path}/{message}"
    assert "\n" not in str(e.value)


def test_utc_now_is_iso_seconds_utc() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", utc_now())


@pytest.mark.slow
def test_export_builds_aside_and_publishes(
    minilm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentence_transformers import SentenceTransformer

    from repspace.maps import make_map
    from repspace.maps.export import export_sentence_transformers
    from repspace.space.store import Space

    rng = np.random.default_rng(0)
    space = Space.from_arrays(
        tmp_path / "s", [f"t{i}" for i in range(100)], rng.normal(size=(100, 384))
    )
    space.manifest["fingerprint"] = minilm.fingerprint
    m = make_map("pca", dim=16).fit(space)
    out = _busy(tmp_path / "st")
    with pytest.raises(RepspaceError) as e:
        export_sentence_transformers(minilm, m, out)
    assert str(e.value) == f"{out}: {NOT_EMPTY}"

    def fail(self: object, path: str, *args: object, **kwargs: object) -> None:
        (Path(path) / "partial").write_text("x", encoding="utf-8")
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(SentenceTransformer, "save", fail)
        with pytest.raises(OSError, match="disk full"):
            export_sentence_transformers(minilm, m, out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert _leftovers(tmp_path, "st") == []
    export_sentence_transformers(minilm, m, out, overwrite=True)
    assert (out / "modules.json").is_file() and not (out / "old.txt").exists()


def test_format_json_is_sealed_with_a_checksum(tmp_path: Path) -> None:
    """A sealed file reads back; an edit of any field is refused in one line; a file written
    before files were sealed (no checksum) is still read."""
    file = tmp_path / "m.json"
    doc = {"format": "f", "format_version": 1, "text": "é ü", "n": 2.5, "deep": [{"a": 1}]}
    write_format_json(file, doc)
    assert read_format_json(file, "f", 1, "manifest") == doc
    edited = json.loads(file.read_text()) | {"n": 3}
    file.write_text(json.dumps(edited))
    with pytest.raises(RepspaceError, match=r"m.json: damaged manifest: .* does not match its c"):
        read_format_json(file, "f", 1, "manifest")
    del edited["checksum"]
    file.write_text(json.dumps(edited))
    assert read_format_json(file, "f", 1, "manifest")["n"] == 3
