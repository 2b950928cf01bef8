from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import write_jsonl
from repspace import Corpus, RepspaceError


def ids_texts(corpus: Corpus) -> list[tuple[str, str]]:
    return [(r.id, r.text) for r in corpus]


def test_jsonl_with_ids_and_extra_fields(tmp_path: Path) -> None:
    f = write_jsonl(
        tmp_path / "a.jsonl", [{"id": 1, "text": "one", "lang": "en"}, {"id": "b", "text": "two"}]
    )
    records = list(Corpus(f, fields=["lang"]))
    assert [(r.id, r.text) for r in records] == [("1", "one"), ("b", "two")]
    assert records[0].fields == {"lang": "en"} and records[1].fields == {"lang": None}


def test_generated_ids_follow_the_documented_rule(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d" / "x.jsonl", [{"text": "alpha"}, "", {"text": "beta"}])
    (tmp_path / "d" / "sub").mkdir()
    (tmp_path / "d" / "sub" / "y.txt").write_text("first\n\nthird\n", encoding="utf-8")
    assert ids_texts(Corpus(tmp_path / "d")) == [
        ("sub/y.txt:1", "first"),
        ("sub/y.txt:3", "third"),
        ("x.jsonl:1", "alpha"),
        ("x.jsonl:3", "beta"),
    ]
    assert ids_texts(Corpus(tmp_path / "d" / "x.jsonl"))[0] == ("x.jsonl:1", "alpha")


def test_csv_tsv_and_parquet(tmp_path: Path) -> None:
    with open(tmp_path / "a.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "body"])
        w.writerow(["c1", "quoted, with a comma and\na newline"])
        w.writerow(["c2", "plain"])
    (tmp_path / "b.tsv").write_text("body\nt one\nt two\n", encoding="utf-8")
    pq.write_table(pa.table({"id": [7, 8], "body": ["p one", "p two"]}), tmp_path / "c.parquet")
    got = ids_texts(
        Corpus([tmp_path / "a.csv", tmp_path / "b.tsv", tmp_path / "c.parquet"], text_field="body")
    )
    assert got == [
        ("c1", "quoted, with a comma and\na newline"),
        ("c2", "plain"),
        ("b.tsv:2", "t one"),
        ("b.tsv:3", "t two"),
        ("7", "p one"),
        ("8", "p two"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.jsonl", b'{"id": "x", "text": "ok"}\n{"id": "y"}\n', "a.jsonl:2: missing field 'text'"),
        (
            "a.jsonl",
            b'{"id": "x", "text": "ok"}\n{"text": "no id"}\n',
            "a.jsonl:2: missing field 'id'",
        ),
        (
            "a.jsonl",
            b'{"id": "x", "text": "ok"}\n{"id": "x", "text": "again"}\n',
            "a.jsonl:2: duplicate id 'x'",
        ),
        (
            "a.jsonl",
            b'{"id": "x", "text": "ok"}\n{"id": "y", "text": "  "}\n',
            "a.jsonl:2: empty text",
        ),
        (
            "a.jsonl",
            b'{"id": "x", "text": "ok"}\n{"id": "y", "text": "\xff"}\n',
            "a.jsonl:2: invalid UTF-8",
        ),
        (
            "a.jsonl",
            b'{"id": "x", "text": "ok"}\n{"id": "y", "text": \n',
            "a.jsonl:2: invalid JSON",
        ),
        ("a.jsonl", b'{"id": "x", "text": "ok"}\n[1, 2]\n', "a.jsonl:2: expected a JSON object"),
        (
            "a.jsonl",
            b'{"id": "x", "text": "ok"}\n{"id": "y", "text": 5}\n',
            "a.jsonl:2: field 'text' is a int",
        ),
        ("a.csv", b"id,text\nx,ok\ny,too,many\n", "a.csv:3: 3 fields where the header has 2"),
        ("a.csv", b"id,text\nx,ok\ny,\xfe\n", "a.csv:3: invalid UTF-8"),
        ("a.txt", b"fine\n\xc3\n", "a.txt:2: invalid UTF-8"),
    ],
)
def test_bad_records_name_file_and_line(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(RepspaceError) as err:
        list(Corpus(f))
    assert message in str(err.value)
    assert "--on-error skip" in str(err.value)
    assert "\n" not in str(err.value)
    corpus = Corpus(f, on_error="skip")
    records = list(corpus)
    assert [r.id for r in records][:1] == ["x"] or name == "a.txt"
    assert sum(corpus.skipped.values()) == 1


def test_duplicate_ids_across_files_and_far_apart(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", [{"id": f"i{k}", "text": "t"} for k in range(10_000)])
    write_jsonl(tmp_path / "b.jsonl", [{"id": "new", "text": "t"}, {"id": "i3", "text": "t"}])
    with pytest.raises(RepspaceError, match=r"b\.jsonl:2: duplicate id 'i3'"):
        list(Corpus(tmp_path))
    corpus = Corpus(tmp_path, on_error="skip")
    assert len(list(corpus)) == 10_001 and corpus.skipped == {"duplicate id": 1}


def test_whole_file_problems_are_errors_even_when_skipping(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,body\nx,y\n", encoding="utf-8")
    with pytest.raises(RepspaceError, match="no column 'text' in the header"):
        list(Corpus(tmp_path / "a.csv", on_error="skip"))
    with pytest.raises(RepspaceError, match="no such file"):
        Corpus(tmp_path / "missing.jsonl").files()
    (tmp_path / "x.docx").write_text("?", encoding="utf-8")
    with pytest.raises(RepspaceError, match="unsupported corpus file type"):
        Corpus(tmp_path / "x.docx").files()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RepspaceError, match="holds no corpus files"):
        Corpus(tmp_path / "empty").files()


def test_scan_hashes_content_and_names(tmp_path: Path) -> None:
    f = write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "text": "one"}])
    first = Corpus(f).scan()
    assert first.approx_records == 1 and first.files == 1
    assert Corpus(f).scan().hash == first.hash
    write_jsonl(f, [{"id": "x", "text": "two"}])
    assert Corpus(f).scan().hash != first.hash


def test_streaming_memory_does_not_grow_with_corpus(tmp_path: Path) -> None:
    def peak(n: int) -> int:
        f = write_jsonl(
            tmp_path / f"c{n}.jsonl", ({"id": f"d{i}", "text": "x " * 50} for i in range(n))
        )
        tracemalloc.start()
        count = sum(1 for _ in Corpus(f))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        return top

    small, large = peak(20_000), peak(200_000)
    # 10x the documents: only the 8-byte id hashes grow (1.6 MB here), not the texts (20 MB).
    assert large < small + 4_000_000
