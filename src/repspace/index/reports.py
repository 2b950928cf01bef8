"""The reports that belong to an index: looked up once, by a fixed set of known file names, in
the index directory, its source space and the directories holding them. Nothing a user sends
ever becomes a path: the server serves only what :func:`find_reports` found at startup."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from repspace.fsio import read_json

if TYPE_CHECKING:
    from repspace.index.index import Index

#: report name -> (kind, candidate file names), in order of preference.
KNOWN_REPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "inspect": ("html", ("inspect.html", "report.html")),
    "inspect-metrics": ("json", ("inspect.json", "metrics.json")),
    "compress": ("html", ("compress.html", "rate_quality.html")),
    "compress-metrics": ("json", ("compress.json", "rate_quality.json")),
    "align": ("html", ("align.html",)),
    "align-metrics": ("json", ("align.json",)),
    "evaluate": ("html", ("evaluate.html",)),
    "evaluate-metrics": ("json", ("evaluate.json",)),
}
MAX_REPORT_BYTES = 50 * 1024 * 1024


def _places(index: Index) -> list[Path]:
    places = [index.path, index.space_path, index.path.parent, index.space_path.parent]
    seen: list[Path] = []
    for p in places:
        p = p.resolve()
        if p not in seen:
            seen.append(p)
    return seen


def find_reports(index: Index) -> dict[str, Path]:
    """report name -> file, for the known reports that exist beside the index or its space."""
    found: dict[str, Path] = {}
    for name, (_, candidates) in KNOWN_REPORTS.items():
        for place in _places(index):
            hit = next((place / c for c in candidates if (place / c).is_file()), None)
            if hit is not None and hit.stat().st_size <= MAX_REPORT_BYTES:
                found[name] = hit
                break
    return found


def inspect_metrics(reports: dict[str, Path]) -> dict[str, Any] | None:
    """The metrics of ``repspace inspect --json`` when such a file is among the reports."""
    path = reports.get("inspect-metrics")
    if path is None:
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
        return {"metrics": data["metrics"], "scope": data.get("scope", {})}
    return None
