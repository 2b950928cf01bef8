"""The web UI in a real browser: Debian's chromium driven by Playwright (never downloaded)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import repspace
from helpers import synthetic_docs, write_jsonl
from repspace.index import Index
from repspace.index.server import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn server on a free loopback port, in a thread."""
    import uvicorn

    root = tmp_path_factory.mktemp("ui")
    rows = synthetic_docs(300)
    for i, row in enumerate(rows):
        row["kind"] = ("alpha", "beta", "gamma")[i % 3]
    rows.append({"id": "zebra-doc", "text": "zebra giraffe savanna safari", "kind": "alpha"})
    corpus = write_jsonl(root / "docs.jsonl", rows)
    space = repspace.encode(corpus, "hash:64", root / "space", fields=["kind"], progress=False)
    (root / "report.html").write_text("<html><body>inspect report</body></html>")
    index = Index.build(space, root / "demo-index", progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app({"demo-index": index}), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=10)


def test_search_neighbours_map_reports_in_chromium(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
        page.wait_for_selector("#space option", state="attached")
        page.fill("#query", "zebra giraffe savanna")
        page.press("#query", "Enter")
        page.wait_for_selector("#results li")
        first = page.locator("#results li").first
        assert first.get_attribute("data-id") == "zebra-doc"
        assert "zebra giraffe" in first.inner_text()
        assert page.locator("#results li").count() == 10
        assert "results in" in page.inner_text("#status")
        # clicking a result shows its neighbours
        page.locator("#results li").nth(1).click()
        page.wait_for_selector("#nb-list li")
        assert page.locator("#nb-list li").count() == 10
        # a filter keeps matching rows only
        page.fill("#filter", "kind=beta")
        page.press("#query", "Enter")
        page.wait_for_function(
            "document.querySelector('#results li') && "
            "document.querySelector('#results li').dataset.id !== 'zebra-doc'"
        )
        page.screenshot(path=str(tmp_path / "search.png"))
        # the map: one circle per sampled row, coloured by kind, hover shows the text
        page.click("button[data-tab=map]")
        page.wait_for_selector("#map circle")
        assert page.locator("#map circle").count() == 301
        assert page.input_value("#color-by") == "kind"
        assert page.locator("#legend span").count() == 3
        page.locator("#map circle").first.hover(force=True)
        page.wait_for_selector("#tooltip:not([hidden])")
        assert ":" in page.inner_text("#tooltip")
        page.screenshot(path=str(tmp_path / "map.png"))
        # reports: the inspect report found beside the space is linked
        page.click("button[data-tab=reports]")
        page.wait_for_selector("#report-links a")
        assert "inspect" in page.inner_text("#report-links")
        assert not errors, errors
        browser.close()
    assert (tmp_path / "map.png").stat().st_size > 1000


def test_mode_switch_and_highlighted_terms_in_chromium(server: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
        page.wait_for_selector("#space option", state="attached")
        assert page.is_checked("input[name=mode][value=hybrid]")  # the index has BM25
        page.fill("#query", "zebra savanna")
        page.press("#query", "Enter")
        page.wait_for_selector("#results li")
        first = page.locator("#results li").first
        assert first.get_attribute("data-id") == "zebra-doc"
        assert first.locator("mark").all_inner_texts() == ["zebra", "savanna"]
        assert "bm25" in first.locator(".explain").inner_text()
        assert "hybrid" in page.inner_text("#status")
        page.check("input[name=mode][value=lexical]")
        page.press("#query", "Enter")
        page.wait_for_function("document.querySelector('#status').innerText.includes('lexical')")
        assert page.locator("#results li").count() == 1  # only the document with the terms
        page.check("input[name=mode][value=dense]")
        page.press("#query", "Enter")
        page.wait_for_function("document.querySelector('#status').innerText.includes('dense')")
        assert page.locator("#results li").count() == 10
        assert not errors, errors
        browser.close()
