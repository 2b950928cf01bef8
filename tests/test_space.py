from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from repspace import RepspaceError, Space, import_vectors
from repspace.space import SpaceWriter


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_from_arrays_round_trip_memmapped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = unit(rng.normal(size=(25, 8)))
    ids = [f"r{i}" for i in range(25)]
    space = Space.from_arrays(
        tmp_path / "s", ids, vectors, columns={"label": list("ab" * 12 + "a")}, shard_size=10
    )
    opened = Space.open(tmp_path / "s", verify=True)
    assert (opened.n, opened.dim, opened.normalized) == (25, 8, True)
    assert len(opened.manifest["shards"]) == 3
    assert opened.ids == ids
    np.testing.assert_array_equal(opened.vectors, vectors)
    assert isinstance(opened.shard_vectors(0), np.memmap)
    assert opened.table(["label"]).column("label").to_pylist()[:3] == ["a", "b", "a"]
    assert opened.texts is None
    assert [len(i) for i, _ in opened.iter_shards()] == [10, 10, 5]
    assert space.fingerprint == opened.fingerprint
    info = opened.summary()  # repspace info
    assert (info.n, info.dim, info.shards, info.encoder, info.verified) == (25, 8, 3, None, None)
    assert list(info.to_dict())[:3] == ["path", "status", "n"] and "verified" not in info.to_dict()


def test_single_shard_vectors_are_a_memmap(tmp_path: Path) -> None:
    Space.from_arrays(tmp_path / "s", ["a", "b"], np.eye(2, 3, dtype=np.float32))
    assert isinstance(Space.open(tmp_path / "s").vectors, np.memmap)


def test_fingerprints_refuse_mixing(tmp_path: Path) -> None:
    x = np.eye(3, dtype=np.float32)
    a = Space.from_arrays(tmp_path / "a", ["1", "2", "3"], x, model="clip")
    b = Space.from_arrays(tmp_path / "b", ["4", "5", "6"], 2 * x, model="clip")
    c = Space.from_arrays(tmp_path / "c", ["1", "2", "3"], x)
    d = Space.from_arrays(tmp_path / "d", ["1", "2", "3"], 2 * x)
    a.check_compatible(b)
    assert not c.normalized or c.fingerprint != d.fingerprint
    with pytest.raises(RepspaceError, match="another model"):
        c.check_compatible(d)
    with pytest.raises(RepspaceError, match="another model"):
        a.check_compatible(c)


def test_verify_detects_a_changed_shard(tmp_path: Path) -> None:
    Space.from_arrays(tmp_path / "s", ["a", "b"], np.ones((2, 4), dtype=np.float32))
    shard = tmp_path / "s" / "shards" / "00000.npy"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    Space.open(tmp_path / "s")
    with pytest.raises(RepspaceError, match="checksum mismatch"):
        Space.open(tmp_path / "s", verify=True)


def test_building_space_is_refused_and_missing_shard_reported(tmp_path: Path) -> None:
    w = SpaceWriter.create(
        tmp_path / "s", dim=2, fingerprint="f", encoder=None, columns=["id"], params={}
    )
    w.add_shard(["a"], np.ones((1, 2)), {})
    with pytest.raises(RepspaceError, match="still building"):
        Space.open(tmp_path / "s")
    assert Space.open(tmp_path / "s", allow_building=True).n == 1
    (tmp_path / "s" / "shards" / "00000.parquet").unlink()
    with pytest.raises(RepspaceError, match="shard file missing"):
        Space.open(tmp_path / "s", allow_building=True)


def test_output_directory_rules(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(RepspaceError, match="not a repspace space"):
        Space.from_arrays(tmp_path / "busy", ["a"], np.ones((1, 2)), overwrite=True)
    assert (tmp_path / "busy" / "notes.txt").exists()
    Space.from_arrays(tmp_path / "s", ["a"], np.ones((1, 2)))
    with pytest.raises(RepspaceError, match="directory is not empty; pass --overwrite"):
        Space.from_arrays(tmp_path / "s", ["a"], np.ones((1, 2)))
    assert Space.from_arrays(tmp_path / "s", ["b"], np.ones((1, 2)), overwrite=True).ids == ["b"]


@pytest.mark.parametrize(
    ("ids", "vectors", "message"),
    [
        (["a", "a"], np.ones((2, 2)), "duplicate id 'a'"),
        (["a"], np.ones((2, 2)), "1 ids for 2 vectors"),
        (["a", "b"], np.array([[1.0, np.nan], [0, 1]]), "id 'a' contains NaN"),
        (["a"], np.ones(3), "2-D array"),
    ],
)
def test_from_arrays_bad_input(
    tmp_path: Path, ids: list[str], vectors: np.ndarray, message: str
) -> None:
    with pytest.raises(RepspaceError, match=message):
        Space.from_arrays(tmp_path / "s", ids, vectors)


def test_import_npy_and_parquet(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "v.npy", x)
    (tmp_path / "ids.txt").write_text("a\nb\nc\nd\n", encoding="utf-8")
    s = import_vectors(tmp_path / "v.npy", tmp_path / "s1", ids=tmp_path / "ids.txt", model="m")
    assert s.ids == list("abcd") and np.array_equal(s.vectors, x) and not s.normalized
    table = pa.table({"id": [1, 2, 3, 4], "embedding": x.tolist()})
    pq.write_table(table, tmp_path / "v.parquet")
    s2 = import_vectors(tmp_path / "v.parquet", tmp_path / "s2", model="m", shard_size=3)
    assert s2.ids == ["1", "2", "3", "4"] and np.array_equal(s2.vectors, x)
    assert s2.fingerprint == s.fingerprint
    assert json.loads((tmp_path / "s2" / "manifest.json").read_text())["source"]["kind"] == "import"


def test_import_refuses_pickled_and_mismatched_input(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "ids.txt").write_text("a\n", encoding="utf-8")
    with pytest.raises(RepspaceError, match="not a plain numeric"):
        import_vectors(tmp_path / "obj.npy", tmp_path / "s", ids=tmp_path / "ids.txt")
    np.save(tmp_path / "v.npy", np.ones((2, 3), dtype=np.float32))
    with pytest.raises(RepspaceError, match="2 vectors but 1 ids"):
        import_vectors(tmp_path / "v.npy", tmp_path / "s", ids=tmp_path / "ids.txt")
    with pytest.raises(RepspaceError, match="has no ids"):
        import_vectors(tmp_path / "v.npy", tmp_path / "s")
    pq.write_table(
        pa.table({"id": ["a", "b"], "vector": [[1.0, 2.0], [3.0]]}), tmp_path / "ragged.parquet"
    )
    with pytest.raises(RepspaceError, match="length is not 2"):
        import_vectors(tmp_path / "ragged.parquet", tmp_path / "s")
    assert (
        not (tmp_path / "s" / "manifest.json").exists()
        or not Space.open(tmp_path / "s", allow_building=True).complete
    )


def test_a_failed_overwrite_leaves_the_old_space_and_no_work_directory(tmp_path: Path) -> None:
    """A replacement that fails half-way (a duplicate id in its second shard) is removed; the
    space it was to replace is untouched."""
    rng = np.random.default_rng(0)
    old = Space.from_arrays(tmp_path / "s", [f"a{i}" for i in range(30)], rng.normal(size=(30, 8)))
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    ids = [f"b{i}" for i in range(29)] + ["b3"]
    with pytest.raises(RepspaceError, match="duplicate id 'b3'"):
        Space.from_arrays(tmp_path / "s", ids, rng.normal(size=(30, 4)), shard_size=10,
                          overwrite=True)  # fmt: skip
    assert {p.name: p.read_bytes() for p in (tmp_path / "s").rglob("*") if p.is_file()} == before
    assert Space.open(tmp_path / "s").fingerprint == old.fingerprint
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no work directory, no lock file
