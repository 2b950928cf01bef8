from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import repspace
from helpers import served, synthetic_docs, write_jsonl
from repspace.index import Index
from repspace.index.server import MAX_BODY, create_app, index_names, serve

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    rows = synthetic_docs(400)
    for i, row in enumerate(rows):
        row["kind"] = ("alpha", "beta")[i % 2]
    corpus = write_jsonl(root / "docs.jsonl", rows)
    space = repspace.encode(corpus, "hash:64", root / "space", fields=["kind"], progress=False)
    # reports beside the space: an inspect report and its metrics, and an unknown file
    (root / "report.html").write_text("<html><body>inspect report</body></html>")
    (root / "inspect.json").write_text(
        json.dumps({"metrics": {"rankme": 12.5}, "scope": {"rankme": "all rows"}})
    )
    (root / "secret.txt").write_text("not served")
    Index.build(space, root / "index", progress=False)
    return root / "index"


@pytest.fixture(scope="module")
def client(index_dir: Path) -> TestClient:
    # the server answers only its own names (DNS rebinding): not TestClient's "testserver"
    return TestClient(create_app({"docs": Index.open(index_dir)}), base_url=LOCAL)


def test_search_get_and_post(client: TestClient) -> None:
    r = client.get("/search", params={"q": "vector space", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["space"] == "docs" and len(body["hits"]) == 3
    assert {"id", "score", "text", "fields"} <= set(body["hits"][0])
    r = client.post("/search", json={"query": "vector space", "k": 4, "filter": {"kind": "beta"}})
    assert r.status_code == 200
    assert [h["fields"]["kind"] for h in r.json()["hits"]] == ["beta"] * 4
    r = client.get("/search", params=[("q", "vector"), ("filter", "kind=alpha"), ("k", "2")])
    assert {h["fields"]["kind"] for h in r.json()["hits"]} == {"alpha"}
    r = client.post("/search", json={"query": "vector", "k": 3, "rerank": "binary"})
    assert r.status_code == 200 and len(r.json()["hits"]) == 3
    r = client.get("/search", params={"q": "vector", "rerank": "nope"})
    assert r.status_code == 400 and "prefix dimension" in r.json()["error"]


def test_spaces_neighbors_map_reports_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "spaces": ["docs"]}
    spaces = client.get("/spaces").json()
    assert spaces[0]["name"] == "docs" and spaces[0]["n"] == 400
    one = client.get("/spaces/docs").json()
    assert one["manifest"]["format"] == "repspace.index"
    assert one["inspect"]["metrics"]["rankme"] == 12.5
    assert {r["name"] for r in one["reports"]} == {"inspect", "inspect-metrics"}
    report = client.get("/spaces/docs/reports/inspect")
    assert report.status_code == 200 and "inspect report" in report.text
    nb = client.get("/spaces/docs/neighbors/doc-3", params={"k": 5}).json()
    assert len(nb["hits"]) == 5 and all(h["id"] != "doc-3" for h in nb["hits"])
    m = client.get("/spaces/docs/map").json()
    assert len(m["x"]) == 400 and "kind" in m["fields"]
    schema = client.get("/openapi.json").json()
    assert {"/search", "/spaces", "/spaces/{name}", "/health"} <= set(schema["paths"])
    assert "/spaces/{name}/neighbors/{id}" in schema["paths"]
    assert client.get("/").status_code == 200 and "repspace" in client.get("/").text
    assert client.get("/ui/app.js").status_code == 200


BAD_REQUESTS = [
    ("GET", "/search", {"params": {"q": ""}}, 422),
    ("GET", "/search", {"params": {"q": "   "}}, 400),
    ("GET", "/search", {"params": {"q": "a", "k": 0}}, 422),
    ("GET", "/search", {"params": {"q": "a", "k": -1}}, 422),
    ("GET", "/search", {"params": {"q": "a", "k": 10**12}}, 422),
    ("GET", "/search", {"params": {"q": "a", "k": "many"}}, 422),
    ("GET", "/search", {"params": {"q": "a" * 5000}}, 422),
    ("GET", "/search", {"params": {"q": "a", "filter": "kind"}}, 400),
    ("GET", "/search", {"params": {"q": "a", "filter": "nope=1"}}, 400),
    ("GET", "/search", {"params": {"q": "a", "space": "../../etc"}}, 404),
    ("GET", "/search", {}, 422),
    ("POST", "/search", {"content": b"{", "headers": {"content-type": "application/json"}}, 422),
    ("POST", "/search", {"content": b"[1]", "headers": {"content-type": "application/json"}}, 422),
    ("POST", "/search", {"json": {"query": "a", "k": 1001}}, 422),
    ("POST", "/search", {"json": {"query": "a", "filter": {"kind": ["x"]}}}, 422),
    ("POST", "/search", {"json": {"query": "a", "filter": "kind=alpha"}}, 422),
    ("POST", "/search", {"json": {"query": "a" * (MAX_BODY + 10)}}, 413),
    ("GET", "/spaces/nope", {}, 404),
    ("GET", "/spaces/docs/neighbors/unknown-id", {}, 404),
    ("GET", "/spaces/docs/neighbors/doc-1", {"params": {"k": 0}}, 422),
    ("GET", "/spaces/docs/reports/secret.txt", {}, 404),
    ("GET", "/spaces/docs/reports/..%2F..%2Fsecret.txt", {}, 404),
    ("GET", "/ui/..%2F__init__.py", {}, 404),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "status"), BAD_REQUESTS)
def test_bad_requests_get_json_4xx(
    client: TestClient, method: str, url: str, kwargs: dict, status: int
) -> None:
    r = client.request(method, url, **kwargs)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["error"], str) and r.json()["error"]


def test_api_key(index_dir: Path) -> None:
    app = create_app({"docs": Index.open(index_dir)}, api_key="s3cret")
    client = TestClient(app, base_url=LOCAL)
    assert client.get("/health").status_code == 200
    assert client.get("/spaces").status_code == 401
    wrong = client.get("/search", params={"q": "a"}, headers={"X-API-Key": "wrong"})
    assert wrong.status_code == 401
    ok = client.get("/search", params={"q": "a"}, headers={"X-API-Key": "s3cret"})
    assert ok.status_code == 200 and ok.json()["hits"]
    with pytest.raises(repspace.RepspaceError, match="--api-key is empty"):
        create_app({"docs": Index.open(index_dir)}, api_key=" ")


def test_names_are_unique() -> None:
    assert index_names(["a/x", "b/x", "c/y"]) == ["x", "x-2", "y"]


@pytest.fixture(scope="module")
def server(index_dir: Path) -> Iterator[tuple[str, str]]:
    """`repspace serve` in a subprocess on a free loopback port: its URL and startup line."""
    with served(index_dir, "--api-key", "k3y") as (url, proc):
        assert proc.stdout is not None
        yield url, proc.stdout.readline()


@pytest.mark.slow
def test_real_server_on_loopback(server: tuple[str, str]) -> None:
    url, startup = server
    # the encoder was loaded before the server listened: the first query is not the slow one
    assert f"at {url}/ (encoder hash:64 loaded and warmed in" in startup
    key = {"X-API-Key": "k3y"}
    r = httpx.post(f"{url}/search", json={"query": "cosine vector", "k": 5}, headers=key)
    assert r.status_code == 200 and len(r.json()["hits"]) == 5
    assert httpx.get(f"{url}/search", params={"q": "x"}).status_code == 401
    big = httpx.post(f"{url}/search", content=b"x" * 100_000, headers=key)
    assert big.status_code == 413 and "error" in big.json()
    # streamed (chunked) bodies are limited too
    chunks = (b"y" * 4096 for _ in range(10))
    r = httpx.post(f"{url}/search", content=chunks, headers=key)
    assert r.status_code == 413
    bad = httpx.get(f"{url}/search", params={"q": "a", "k": 0}, headers=key)
    assert bad.status_code == 422 and "error" in bad.json()


def test_serve_refuses_bad_options(index_dir: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "repspace", "serve", *args],
            capture_output=True, text=True, timeout=120, env={**os.environ},
        )  # fmt: skip

    r = run(str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such index directory" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run(str(index_dir), "--port", "70000")
    assert r.returncode == 2 and "not a TCP port" in r.stderr
    # The API refuses them too, before opening anything.
    with pytest.raises(repspace.RepspaceError, match="not a TCP port"):
        serve([tmp_path / "missing"], port=-1)
    with pytest.raises(repspace.RepspaceError, match="--api-key is empty"):
        serve([tmp_path / "missing"], api_key="")
