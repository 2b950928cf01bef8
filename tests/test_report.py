"""The HTML report module and the inspect/compare reports: one self-contained offline file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import repspace
from repspace import Space
from repspace import report as rp
from repspace.metrics.pages import write_report


def assert_self_contained(page: str) -> None:
    """No scripts, stylesheets, images or fonts fetched from anywhere."""
    lowered = page.lower()
    for needle in ("<script", "<link", "<img", "<iframe", "@import", "url(", " src=", "href="):
        assert needle not in lowered, needle
    assert lowered.startswith("<!doctype html>") and lowered.rstrip().endswith("</html>")


def test_building_blocks_escape_and_render(tmp_path: Path) -> None:
    x = np.linspace(0, 10, 50)
    page = rp.Report("A <title>", "sub & title")
    page.add(
        "Charts",
        rp.table(
            ["name", "value"], [["<b>bold</b>", 1.5], ["n", 12345], ["none", None]], numeric=[1]
        ),
        rp.line_chart({"a": (x, np.exp(-x)), "b": (x, np.exp(-x / 2))}, log_y=True, x_label="x"),
        rp.histogram(np.r_[np.ones(100), 2.0], bins=10),
        rp.histogram(np.ones(100)),  # all equal: one bar, not an error
        rp.scatter(x, x**2, labels=[f"c{i % 12}" for i in range(50)], tooltips=["<tip>"] * 50),
        rp.scatter(x, x, labels=list(x)),  # numeric labels: a colour ramp
        rp.heatmap([[1.0, 0.5], [0.5, None]], ["p", "q"]),
        note="a <note>",
    )
    html = page.html()
    assert_self_contained(html)
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html
    assert "&lt;tip&gt;" in html and "A &lt;title&gt;" in html and "a &lt;note&gt;" in html
    assert "12,345" in html and "—" in html
    assert html.count("<svg") == 6 and html.count("<polyline") == 2
    assert ">other<" in html  # 12 categories: the 10 most common, then "other"
    path = page.save(tmp_path / "deep" / "r.html")
    stamp = re.compile(r"on \d{4}-\d\d-\d\dT[\d:]+\+00:00;")  # saved a second later, maybe
    assert stamp.sub("", path.read_text(encoding="utf-8")) == stamp.sub("", html)
    assert not list((tmp_path / "deep").glob(".*.tmp"))


def test_fmt_and_ticks() -> None:
    assert rp.fmt(None) == "—" and rp.fmt(float("nan")) == "—" and rp.fmt(True) == "yes"
    assert rp.fmt(3) == "3" and rp.fmt(1234567) == "1,234,567"
    assert rp.fmt(0.123456) == "0.1235" and rp.fmt(2.5e-7) == "2.500e-07"
    # tick labels keep enough digits to tell neighbouring ticks apart
    svg = rp.line_chart({"s": ([1.0, 1.001], [0.0, 1.0])})
    labels = re.findall(r'text-anchor="middle" font-size="11" fill="#555">([^<]+)<', svg)
    assert len(labels) == len(set(labels)) > 1


def test_inspect_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 16)).astype(np.float32)
    ids = [f"doc{i}" for i in range(400)]
    texts = [f"text of <doc {i}>" for i in range(400)]
    kinds = ["module", "class", "function", "method"] * 100
    space = Space.from_arrays(tmp_path / "s", ids, x, columns={"text": texts, "kind": kinds})
    result = repspace.inspect(space, color_by="kind", sample=300)
    path = write_report(result, tmp_path / "inspect.html")
    html = path.read_text(encoding="utf-8")
    assert_self_contained(html)
    labels = [
        "RankMe (effective rank)", "IsoScore", "Hubness (k-occurrence skewness)",
        "what good looks like", "Singular value spectrum", "Cumulative explained variance",
        "coloured by kind", "k-occurrence", "Vector norms", "Top hubs",
        "uniform sample of 300 of 400 rows", "Garrido et al.",
    ]  # fmt: skip
    for label in labels:
        assert label in html, label
    for kind in ("module", "class", "function", "method"):
        assert f">{kind}<" in html  # legend
    assert "text of &lt;doc" in html  # hub texts and tooltips, escaped
    assert html.count("<circle") == 300


def test_compare_reports(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 12))
    y = x @ rng.standard_normal((12, 8)) + 0.1 * rng.standard_normal((200, 8))
    two = write_report(repspace.compare(x, y, names=["x", "y"]), tmp_path / "two.html")
    html = two.read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "Linear CKA" in html and "SVCCA correlations" in html and "Mutual kNN per point" in html
    assert "200 shared rows" in html
    three = repspace.compare(x, y, x[:, :5], names=["x", "y", "z"], debiased=True)
    html = write_report(three, tmp_path / "three.html").read_text(encoding="utf-8")
    assert_self_contained(html)
    assert html.count("<svg") == len(three.metrics) + 2  # a heatmap per metric + details
    assert "RBF CKA (debiased)" in html


def test_bar_chart_groups_series_and_gaps() -> None:
    svg = rp.bar_chart(
        {"task <a>": {"m1": 0.5, "m2": -0.25}, "task b": {"m1": float("nan"), "m2": 0.75}},
        y_label="score",
        title="Scores",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    bars = re.findall(r"<rect [^>]*><title>([^<]*)</title>", svg)
    assert bars == [
        "m1 on task &lt;a&gt;: 0.5",
        "m2 on task &lt;a&gt;: -0.25",
        "m2 on task b: 0.75",
    ]
    assert ">m1<" in svg and ">m2<" in svg  # the legend
