"""Self-contained HTML reports: inline SVG charts and CSS, no JavaScript library, no network.

Every command that writes a report (inspect, compare, and later compress, align, evaluate,
select) builds it from these pieces: :class:`Report` collects sections and writes one HTML file
atomically; :func:`table`, :func:`line_chart`, :func:`histogram`, :func:`scatter`,
:func:`heatmap` and :func:`bar_chart` return HTML or SVG fragments to put in them. Tooltips are
SVG ``<title>`` elements, so the file works offline in any browser.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repspace.fsio import atomic_write, utc_now
from repspace.kernels import bin_edges

#: Categorical colours (Tableau 10), then grey for "other".
PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
]  # fmt: skip
OTHER = "#c8c8c8"
#: Sequential colour map (viridis, 9 stops) for continuous values and heatmaps.
VIRIDIS = [
    "#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c",
    "#28ae80", "#5ec962", "#addc30", "#fde725",
]  # fmt: skip

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2.2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #e4e4e4;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}.note{color:#666;font-size:.85rem}figure{margin:1rem 0;display:inline-block;
vertical-align:top}figcaption{color:#555;font-size:.85rem;max-width:640px}
svg text{font-family:system-ui,sans-serif}.grid{display:flex;flex-wrap:wrap;gap:1.5rem}
code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}
"""


def esc(value: Any) -> str:
    """HTML-escape anything (``str(value)`` first)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: thousands separators for integers, ``digits`` significant digits
    for floats, an em dash for None/NaN; anything else as ``str``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "—"
        if v != 0 and (abs(v) >= 10**digits or abs(v) < 10 ** -(digits - 1)):
            return f"{v:.{digits - 1}e}" if abs(v) < 1 else f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(value)


class Report:
    """An HTML page built section by section; :meth:`save` writes it atomically."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title = title
        self.subtitle = subtitle
        self.sections: list[str] = []

    def add(self, heading: str, *fragments: str, note: str = "") -> Report:
        """Append a section: a heading, HTML/SVG fragments, and an optional note (plain text)."""
        body = "\n".join(fragments)
        note_html = f'<p class="note">{esc(note)}</p>' if note else ""
        self.sections.append(f"<section><h2>{esc(heading)}</h2>\n{body}\n{note_html}</section>")
        return self

    def html(self) -> str:
        from repspace._version import __version__

        stamp = utc_now()
        sub = f'<p class="sub">{esc(self.subtitle)}</p>' if self.subtitle else ""
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{esc(self.title)}</h1>{sub}\n" + "\n".join(self.sections) + "\n"
            f'<p class="note">Written by repspace {esc(__version__)} on {esc(stamp)}; '
            "a self-contained file (inline SVG, no scripts, no network).</p>\n</body></html>\n"
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        data = self.html().encode("utf-8")
        atomic_write(path, lambda f: f.write(data))
        return path


# ----------------------------------------------------------------------------- tables
def table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric: Sequence[int] = ()
) -> str:
    """An HTML table; cells are escaped, numbers formatted with :func:`fmt`; the columns in
    ``numeric`` are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = fmt(cell) if not isinstance(cell, str) else esc(cell)
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>"


def grid(*fragments: str) -> str:
    """Fragments side by side, wrapping."""
    return '<div class="grid">' + "".join(fragments) + "</div>"


# ----------------------------------------------------------------------------- axes
def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


class _Axis:
    """Maps data values to pixels (linear or log10) and proposes tick positions."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float, log: bool = False):
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        if not math.isfinite(lo) or not math.isfinite(hi):
            lo, hi = 0.0, 1.0
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        self.lo, self.hi, self.p0, self.p1, self.log = lo, hi, p0, p1, log

    def __call__(self, v: float) -> float:
        if self.log:
            v = math.log10(v) if v > 0 else self.lo
        return self.p0 + (v - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)

    def ticks(self, count: int = 5) -> list[float]:
        if self.log:
            first, last = math.ceil(self.lo - 1e-9), math.floor(self.hi + 1e-9)
            step = max(1, math.ceil((last - first + 1) / 6))
            exps = list(range(first, last + 1, step)) or [first]
            return [10.0**e for e in exps]
        step = _nice_step(self.hi - self.lo, count)
        start = math.ceil(self.lo / step - 1e-9) * step
        out, v = [], start
        while v <= self.hi + step * 1e-9:
            out.append(0.0 if abs(v) < step * 1e-9 else v)
            v += step
        return out


def _tick_label(v: float, log: bool, step: float = 0.0) -> str:
    if log:
        e = round(math.log10(v))
        return f"1e{e}" if abs(e) > 3 else fmt(float(10.0**e))
    digits = 3
    if step > 0 and v != 0:  # enough digits to tell neighbouring ticks apart
        digits = max(3, math.ceil(math.log10(abs(v) / step)) + 1)
    return fmt(float(v), digits)


def _frame(
    width: int,
    height: int,
    x: _Axis,
    y: _Axis,
    x_label: str,
    y_label: str,
    title: str,
    x_ticks: bool = True,
) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        parts.append(
            f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13" '
            f'font-weight="600">{esc(title)}</text>'
        )
    top, bottom = min(y.p0, y.p1), max(y.p0, y.p1)
    yt = y.ticks()
    y_step = yt[1] - yt[0] if len(yt) > 1 else 0.0
    for t in yt:
        py = y(t)
        parts.append(
            f'<line x1="{x.p0:.1f}" x2="{x.p1:.1f}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>'
            f'<text x="{x.p0 - 5:.1f}" y="{py + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{esc(_tick_label(t, y.log, y_step))}</text>'
        )
    if x_ticks:
        xt = x.ticks()
        step = xt[1] - xt[0] if len(xt) > 1 else 0.0
        for t in xt:
            px = x(t)
            parts.append(
                f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{bottom:.1f}" y2="{bottom + 4:.1f}" '
                f'stroke="#888"/><text x="{px:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" '
                f'font-size="11" fill="#555">{esc(_tick_label(t, x.log, step))}</text>'
            )
    parts.append(
        f'<rect x="{x.p0:.1f}" y="{top:.1f}" width="{x.p1 - x.p0:.1f}" '
        f'height="{bottom - top:.1f}" fill="none" stroke="#888"/>'
    )
    if x_label:
        parts.append(
            f'<text x="{(x.p0 + x.p1) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
            f'font-size="12">{esc(x_label)}</text>'
        )
    if y_label:
        cy = (top + bottom) / 2
        parts.append(
            f'<text x="14" y="{cy:.1f}" text-anchor="middle" font-size="12" '
            f'transform="rotate(-90 14 {cy:.1f})">{esc(y_label)}</text>'
        )
    return parts


def _legend(items: Sequence[tuple[str, str]], x0: float, y0: float) -> list[str]:
    parts = []
    for i, (label, colour) in enumerate(items):
        y = y0 + i * 16
        parts.append(
            f'<rect x="{x0:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x0 + 14:.1f}" y="{y:.1f}" font-size="11">{esc(label[:28])}</text>'
        )
    return parts


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


# ----------------------------------------------------------------------------- charts
def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x_label: str = "",
    y_label: str = "",
    title: str = "",
    log_x: bool = False,
    log_y: bool = False,
    y_range: tuple[float, float] | None = None,
    width: int = 520,
    height: int = 300,
) -> str:
    """Lines (one per named series of (xs, ys)) as SVG; log axes drop non-positive values."""
    cleaned = {}
    for name, (xs, ys) in series.items():
        xa, ya = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        keep = np.isfinite(xa) & np.isfinite(ya)
        if log_x:
            keep &= xa > 0
        if log_y:
            keep &= ya > 0
        cleaned[name] = (xa[keep], ya[keep])
    all_x = np.concatenate([c[0] for c in cleaned.values()] or [np.zeros(0)])
    all_y = np.concatenate([c[1] for c in cleaned.values()] or [np.zeros(0)])
    if not len(all_x):
        all_x = all_y = np.array([1.0])
    legend = len(series) > 1
    right = width - (130 if legend else 15)
    x = _Axis(float(all_x.min()), float(all_x.max()), 60, right, log_x)
    lo, hi = y_range if y_range else (float(all_y.min()), float(all_y.max()))
    y = _Axis(lo, hi, height - 40, 26 if title else 12, log_y)
    parts = _frame(width, height, x, y, x_label, y_label, title)
    items = []
    for i, (name, (xa, ya)) in enumerate(cleaned.items()):
        colour = PALETTE[i % len(PALETTE)]
        items.append((name, colour))
        if len(xa) > 2000:  # keep the file small: thin evenly, keep the ends
            idx = np.unique(np.linspace(0, len(xa) - 1, 2000).round().astype(int))
            xa, ya = xa[idx], ya[idx]
        points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(xa, ya, strict=True))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.8">'
            f"<title>{esc(name)}</title></polyline>"
        )
    if legend:
        parts += _legend(items, right + 10, 40)
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    values: Sequence[float] | np.ndarray | None = None,
    *,
    bins: int | Sequence[float] = 40,
    counts: Sequence[float] | None = None,
    edges: Sequence[float] | None = None,
    x_label: str = "",
    y_label: str = "count",
    title: str = "",
    log_y: bool = False,
    width: int = 520,
    height: int = 280,
    colour: str = PALETTE[0],
) -> str:
    """A histogram of ``values`` (``bins`` bins, or the given edges), or of precomputed
    ``counts`` over ``edges``. Each bar's tooltip gives its range and count."""
    if counts is None or edges is None:
        data = _finite(values if values is not None else [])
        if not len(data):
            data = np.zeros(1)
        if isinstance(bins, int):
            bins = bin_edges(data, bins)
        counts_arr, edges_arr = np.histogram(data, bins=bins)
    else:
        counts_arr, edges_arr = np.asarray(counts, float), np.asarray(edges, float)
    x = _Axis(float(edges_arr[0]), float(edges_arr[-1]), 60, width - 15)
    top = float(counts_arr.max()) if len(counts_arr) else 1.0
    y = _Axis(0.8 if log_y else 0.0, max(top, 1.0), height - 40, 26 if title else 12, log_y)
    parts = _frame(width, height, x, y, x_label, y_label, title)
    base = y(0.8) if log_y else y(0.0)
    for c, a, b in zip(counts_arr, edges_arr[:-1], edges_arr[1:], strict=True):
        if c <= 0:
            continue
        x0, x1, yt = x(a), x(b), y(float(c))
        parts.append(
            f'<rect x="{x0:.1f}" y="{yt:.1f}" width="{max(x1 - x0 - 0.5, 0.5):.1f}" '
            f'height="{max(base - yt, 0.5):.1f}" fill="{colour}"><title>'
            f"{esc(fmt(float(a)))} – {esc(fmt(float(b)))}: {esc(fmt(int(c)))}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _ramp(t: float, stops: Sequence[str] = VIRIDIS) -> str:
    """Colour at ``t`` in [0, 1] on a piecewise-linear ramp."""
    t = min(max(t, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    a, b = stops[i], stops[i + 1]
    rgb = [round(int(a[k : k + 2], 16) * (1 - f) + int(b[k : k + 2], 16) * f) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def scatter(
    xs: Sequence[float] | np.ndarray,
    ys: Sequence[float] | np.ndarray,
    *,
    labels: Sequence[Any] | None = None,
    tooltips: Sequence[str] | None = None,
    x_label: str = "",
    y_label: str = "",
    title: str = "",
    max_categories: int = 10,
    width: int = 620,
    height: int = 460,
    radius: float = 2.6,
) -> str:
    """Points as SVG, coloured by ``labels``: categories (the ``max_categories`` most common,
    the rest grey as "other") or, when every label is a number, a viridis ramp."""
    xa, ya = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    n = len(xa)
    colours = [PALETTE[0]] * n
    items: list[tuple[str, str]] = []
    if labels is not None:
        numeric = all(
            isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
            for v in labels
        )
        if numeric and n:
            vals = np.asarray(labels, dtype=np.float64)
            lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
            span = hi - lo or 1.0
            colours = [_ramp((v - lo) / span) if np.isfinite(v) else OTHER for v in vals]
            items = [(f"{fmt(lo)} (low)", _ramp(0.0)), (f"{fmt(hi)} (high)", _ramp(1.0))]
        else:
            names = ["(none)" if v is None else str(v) for v in labels]
            top = [c for c, _ in Counter(names).most_common(max_categories)]
            palette = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(top)}
            colours = [palette.get(c, OTHER) for c in names]
            items = [(c, palette[c]) for c in top]
            if len(set(names)) > len(top):
                items.append(("other", OTHER))
    legend = bool(items)
    right = width - (150 if legend else 15)
    pad_x = (float(xa.max() - xa.min()) if n else 1.0) * 0.03
    pad_y = (float(ya.max() - ya.min()) if n else 1.0) * 0.03
    x = _Axis(float(xa.min()) - pad_x if n else 0, float(xa.max()) + pad_x if n else 1, 60, right)
    y = _Axis(
        float(ya.min()) - pad_y if n else 0,
        float(ya.max()) + pad_y if n else 1,
        height - 40,
        26 if title else 12,
    )
    parts = _frame(width, height, x, y, x_label, y_label, title)
    for i in range(n):
        tip = f"<title>{esc(tooltips[i])}</title>" if tooltips is not None else ""
        parts.append(
            f'<circle cx="{x(xa[i]):.1f}" cy="{y(ya[i]):.1f}" r="{radius}" '
            f'fill="{colours[i]}" fill-opacity="0.75">{tip}</circle>'
        )
    if legend:
        parts += _legend(items, right + 10, 40)
    parts.append("</svg>")
    return "".join(parts)


def heatmap(
    matrix: Sequence[Sequence[float | None]] | np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str] | None = None,
    *,
    title: str = "",
    vmin: float | None = None,
    vmax: float | None = None,
    cell: int = 56,
) -> str:
    """A matrix as coloured cells (viridis) with the value written in each cell."""
    m = np.array([[np.nan if v is None else float(v) for v in row] for row in matrix])
    col_labels = list(col_labels) if col_labels is not None else list(row_labels)
    finite = m[np.isfinite(m)]
    lo = vmin if vmin is not None else (float(finite.min()) if len(finite) else 0.0)
    hi = vmax if vmax is not None else (float(finite.max()) if len(finite) else 1.0)
    span = hi - lo or 1.0
    left, top = 130, 40 if title else 22
    rows, cols = m.shape
    width, height = left + cols * cell + 10, top + rows * cell + 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>'
    ]
    if title:
        parts.append(
            f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13" '
            f'font-weight="600">{esc(title)}</text>'
        )
    for i in range(rows):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4:.1f}" text-anchor="end" '
            f'font-size="11">{esc(row_labels[i][:20])}</text>'
        )
        for j in range(cols):
            v = m[i, j]
            x = left + j * cell
            t = (v - lo) / span if np.isfinite(v) else 0.0
            fill = _ramp(t) if np.isfinite(v) else "#f0f0f0"
            ink = "#000" if t > 0.55 or not np.isfinite(v) else "#fff"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" fill="{fill}">'
                f"<title>{esc(row_labels[i])} × {esc(col_labels[j])}: {esc(fmt(v))}</title></rect>"
                f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                f'font-size="11" fill="{ink}">{esc(fmt(v, 3))}</text>'
            )
    for j in range(cols):
        x = left + j * cell + cell / 2
        y = top + rows * cell + 8
        parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="start" '
            f'transform="rotate(40 {x:.1f} {y:.1f})">{esc(col_labels[j][:20])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    groups: Mapping[str, Mapping[str, float | None]],
    *,
    y_label: str = "",
    title: str = "",
    y_range: tuple[float, float] | None = None,
    width: int = 720,
    height: int = 320,
) -> str:
    """Grouped bars: one group per key of ``groups`` (e.g. a task), one coloured bar per series
    inside it (e.g. a model), with a legend; missing or NaN values leave a gap. Each bar's
    tooltip gives series, group and value."""
    series = list(dict.fromkeys(s for g in groups.values() for s in g))
    values = _finite([v for g in groups.values() for v in g.values() if v is not None])
    lo, hi = y_range if y_range else (min(0.0, *values, 0.0), max(1e-12, *values, 0.0))
    legend = len(series) > 1
    right = width - (170 if legend else 15)
    n_groups = max(len(groups), 1)
    x = _Axis(0.0, float(n_groups), 60, right)
    y = _Axis(lo, hi, height - 40, 26 if title else 12)
    parts = _frame(width, height, x, y, "", y_label, title, x_ticks=False)
    slot = (right - 60) / n_groups
    bar = slot * 0.8 / max(len(series), 1)
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    base = y(min(max(0.0, lo), hi))
    bottom = max(y.p0, y.p1)
    for gi, (group, vals) in enumerate(groups.items()):
        x0 = 60 + gi * slot + slot * 0.1
        for si, s in enumerate(series):
            v = vals.get(s)
            if v is None or not math.isfinite(float(v)):
                continue
            top = y(float(v))
            parts.append(
                f'<rect x="{x0 + si * bar:.1f}" y="{min(top, base):.1f}" '
                f'width="{max(bar - 1, 1):.1f}" height="{max(abs(base - top), 0.5):.1f}" '
                f'fill="{colours[s]}"><title>{esc(s)} on {esc(group)}: {esc(fmt(float(v)))}'
                "</title></rect>"
            )
        parts.append(
            f'<text x="{60 + (gi + 0.5) * slot:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" '
            f'font-size="11">{esc(group[:28])}</text>'
        )
    if legend:
        parts += _legend([(s, colours[s]) for s in series], right + 10, 40)
    parts.append("</svg>")
    return "".join(parts)
