"""The server against a web page: Host validation (DNS rebinding), Origin, offline /docs, API key
over every route."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import repspace
from helpers import assert_one_line_error, free_port, served, synthetic_docs, write_jsonl
from repspace.index import Index
from repspace.index.server import create_app, serve

PORT = 8000
OWN = f"http://127.0.0.1:{PORT}"
CHROMIUM = Path("/usr/bin/chromium")
#: An XML namespace name (app.js makes SVG elements with it): an identifier, never fetched.
SVG_NS = "http://www.w3.org/2000/svg"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("secured")
    corpus = write_jsonl(root / "docs.jsonl", synthetic_docs(200))
    space = repspace.encode(corpus, "hash:64", root / "space", progress=False)
    (root / "report.html").write_text("<html><body>inspect report</body></html>")
    return Index.build(space, root / "index", progress=False)


def client(index: Index, base_url: str = OWN, **options: object) -> TestClient:
    options.setdefault("port", PORT)
    return TestClient(create_app({"docs": index}, **options), base_url=base_url)  # type: ignore[arg-type]


def assert_refused(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 403, r.text
    message = r.json()["error"]
    assert all(w in message for w in words), message


def test_foreign_host_is_refused(index: Index) -> None:
    evil = client(index, "http://evil.example.com:8000")
    for url in ("/search?q=vector", "/", "/health", "/spaces", "/docs", "/ui/app.js"):
        assert_refused(evil.get(url), "evil.example.com", "--allow-host evil.example.com")
    assert_refused(evil.post("/search", json={"query": "vector"}), "evil.example.com")
    # a loopback name on another port is not this server either
    assert_refused(client(index, "http://127.0.0.1:9999").get("/search?q=a"), "127.0.0.1:9999")


@pytest.mark.parametrize("base", [OWN, "http://localhost:8000", "http://[::1]:8000"])
def test_loopback_names_are_answered(index: Index, base: str) -> None:
    c = client(index, base)
    r = c.get("/search", params={"q": "vector space"})
    assert r.status_code == 200 and r.json()["hits"]
    assert c.get("/").status_code == 200


def test_allow_host(index: Index) -> None:
    c = client(index, "https://search.example.com", allow_hosts=["search.example.com"])
    assert c.get("/search", params={"q": "vector"}).status_code == 200  # any port of that name
    assert_refused(c.get("/search", params={"q": "vector"}, headers={"Host": "evil.example.com"}))
    pinned = client(
        index, "http://search.example.com:8443", allow_hosts=["search.example.com:8443"]
    )
    assert pinned.get("/spaces").status_code == 200
    assert_refused(pinned.get("/spaces", headers={"Host": "search.example.com:9000"}))
    anyone = client(index, "http://evil.example.com:1234", allow_hosts=["*"])
    assert anyone.get("/spaces").status_code == 200
    # the loopback names stay allowed beside the extra ones
    assert client(index, allow_hosts=["search.example.com"]).get("/spaces").status_code == 200
    with pytest.raises(repspace.RepspaceError, match="--allow-host 'a/b' is not a host name"):
        create_app({"docs": index}, allow_hosts=["a/b"])


def test_bound_address_decides_the_names(index: Index) -> None:
    lan = client(index, "http://10.1.2.3:8000", host="10.1.2.3")
    assert lan.get("/spaces").status_code == 200
    assert_refused(lan.get("/spaces", headers={"Host": "localhost:8000"}))
    # all interfaces: any IP address (never a rebinding, which needs a name) and this machine's
    # name; other names need --allow-host
    every = client(index, "http://192.168.1.5:8000", host="0.0.0.0")
    assert every.get("/spaces").status_code == 200
    assert every.get("/spaces", headers={"Host": f"{socket.gethostname()}:8000"}).status_code == 200
    assert_refused(every.get("/spaces", headers={"Host": "evil.example.com:8000"}))


def test_origin_must_be_the_servers_own(index: Index) -> None:
    c = client(index)
    q = {"q": "vector"}
    for origin in (
        "http://evil.example.com",
        "http://127.0.0.1:3000",  # another local server's page
        "http://localhost:8000",  # another origin, though the same machine
        "null",  # a sandboxed frame or a file:// page
    ):
        assert_refused(c.get("/search", params=q, headers={"Origin": origin}), "Origin", origin)
        assert_refused(c.post("/search", json={"query": "a"}, headers={"Origin": origin}))
    assert c.get("/search", params=q, headers={"Origin": OWN}).status_code == 200
    assert c.post("/search", json={"query": "a"}, headers={"Origin": OWN}).status_code == 200
    # behind a TLS proxy that keeps the name: the origin's port is the proxy's
    proxied = client(index, "http://search.example.com", allow_hosts=["search.example.com"])
    r = proxied.get("/spaces", headers={"Origin": "https://search.example.com"})
    assert r.status_code == 200


class Refs(HTMLParser):
    """The URLs an HTML page makes a browser load or link to (src, href, action)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "action") and v]


def css_refs(css: str) -> list[str]:
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+)", css) + re.findall(
        r"@import\s+['\"]([^'\"]+)", css
    )
    return [u for u in urls if not u.startswith("data:")]


def test_pages_reference_no_other_host(index: Index) -> None:
    c = client(index)
    pages = {}
    for page in ("/", "/docs"):
        r = c.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "http://" not in r.text and "https://" not in r.text, page
        parser = Refs()
        parser.feed(r.text)
        pages[page] = parser.urls
    assert "/docs/swagger-ui-bundle.js" in pages["/docs"]
    assert "/openapi.json" in c.get("/docs").text
    for url in [u for urls in pages.values() for u in urls]:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = c.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".css"):
            assert all(u.startswith("/") and not u.startswith("//") for u in css_refs(asset.text))
    # the UI's own script names no other host (the SVG namespace is a name, not a request);
    # the vendored Swagger bundle is checked in a browser below
    script = c.get("/ui/app.js").text.replace(SVG_NS, "")
    assert "http://" not in script and "https://" not in script
    assert c.get("/redoc").status_code == 404
    assert "/spaces" in c.get("/openapi.json").json()["paths"]


PUBLIC = {"/health", "/", "/ui/{name}"}


def fill(path: str, values: dict[str, str]) -> str:
    """A route path with its parameters ({name}, {id:path}) replaced by values."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)


def test_api_key_guards_every_route_but_health_and_the_shell(index: Index) -> None:
    c = client(index, api_key="s3cret")
    app = c.app
    sample = {"name": "docs", "id": "doc-1", "report": "inspect"}
    extra = {
        ("GET", "/search"): {"params": {"q": "vector"}},
        ("POST", "/search"): {"json": {"query": "vector"}},
    }
    paths = set()
    for route in app.routes:
        paths.add(route.path)
        if route.path in PUBLIC:
            continue
        values = {**sample, "name": "swagger-ui.css"} if route.path.startswith("/docs/") else sample
        url = fill(route.path, values)
        for method in route.methods:
            kwargs = extra.get((method, route.path), {})
            r = c.request(method, url, **kwargs)
            assert r.status_code == 401 and "X-API-Key" in r.json()["error"], (method, url)
            r = c.request(method, url, headers={"X-API-Key": "wrong"}, **kwargs)
            assert r.status_code == 401, (method, url)
            r = c.request(method, url, headers={"X-API-Key": "s3cret"}, **kwargs)
            assert r.status_code == 200, (method, url, r.text[:200])
    assert {"/search", "/spaces/{name}/reports/{report}", "/openapi.json", "/docs"} <= paths
    assert paths >= PUBLIC
    # the public shell is the packaged files, byte for byte: no index name, no data
    assert c.get("/health").status_code == 200
    ui = resources.files("repspace.index") / "ui"
    assert c.get("/").content == (ui / "index.html").read_bytes()
    for name in ("app.js", "style.css"):
        assert c.get(f"/ui/{name}").content == (ui / name).read_bytes()


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs)")
def test_browser_loads_nothing_from_another_host_and_rebinding_fails(index: Index) -> None:
    """Chromium opens the UI and /docs: every request goes to the server itself; a name resolved
    to 127.0.0.1 (DNS rebinding, simulated with --host-resolver-rules) gets 403."""
    import uvicorn
    from playwright.sync_api import sync_playwright

    port = free_port()
    app = create_app({"docs": index}, port=port)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    own = f"http://127.0.0.1:{port}/"
    args = [
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP evil.example.com 127.0.0.1",
    ]  # fmt: skip
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
            page = browser.new_page()
            requests: list[str] = []
            errors: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(own)
            page.wait_for_selector("#space option", state="attached")
            page.goto(own + "docs")
            page.wait_for_selector(".opblock")  # Swagger UI ran and read /openapi.json
            assert page.locator(".opblock").count() >= 5
            assert not errors, errors
            assert {own + "docs/swagger-ui-bundle.js", own + "openapi.json"} <= set(requests)
            assert requests and all(u.startswith(own) or u.startswith("data:") for u in requests), [
                u for u in requests if not u.startswith(own)
            ]
            rebound = page.goto(f"http://evil.example.com:{port}/search?q=vector")
            assert rebound is not None and rebound.status == 403
            assert "evil.example.com" in rebound.json()["error"]
            browser.close()
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_repspace_serve_allow_host(index: Index) -> None:
    with served(index.path, "--allow-host", "search.example.com") as (url, _):
        q = {"q": "vector"}
        assert httpx.get(f"{url}/search", params=q).status_code == 200
        r = httpx.get(f"{url}/search", params=q, headers={"Host": "evil.example.com"})
        assert r.status_code == 403 and "--allow-host evil.example.com" in r.json()["error"]
        r = httpx.get(f"{url}/search", params=q, headers={"Host": "search.example.com"})
        assert r.status_code == 200 and r.json()["hits"]
        r = httpx.get(f"{url}/spaces", headers={"Origin": "http://evil.example.com"})
        assert r.status_code == 403


def test_serve_refuses_a_bad_allow_host(index: Index) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "repspace", "serve", str(index.path), "--allow-host", "http://x/y"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert_one_line_error(r, "--allow-host 'http://x/y' is not a host name")
    with pytest.raises(repspace.RepspaceError, match="is not a host name"):
        serve([index.path], allow_hosts=[""])
