"""The model card (``README.md``) of a model that repspace trains (``distill``, ``adapt``).

One template: Hugging Face front matter (``library_name``, ``tags``), a marker comment that
identifies the card, a title and a sentence on how the model was made, a table of facts, an
optional evaluation table, usage, and the run's record as a JSON block that
:func:`read_card` reads back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repspace.errors import RepspaceError
from repspace.fsio import atomic_write

CARD_FILE = "README.md"


@dataclass(frozen=True)
class Card:
    """What a model card says; :meth:`text` lays it out."""

    library: str
    tags: Sequence[str]
    marker: str
    title: str
    intro: str
    facts: Sequence[tuple[str, str]]
    usage_code: Sequence[str]
    usage_note: str
    record: dict[str, Any]
    evaluation_header: Sequence[str] = ()
    evaluation_rows: Sequence[Sequence[str]] = ()

    def text(self) -> str:
        lines = [
            "---",
            f"library_name: {self.library}",
            f"tags: [{', '.join(self.tags)}]",
            "---",
            self.marker,
            f"# {self.title}",
            "",
            self.intro,
            "",
            "| | |",
            "|---|---|",
            *(_row((name, value)) for name, value in self.facts),
        ]
        if self.evaluation_header:
            lines += ["", "## Evaluation", "", _row(self.evaluation_header)]
            lines.append("|" + "---|" * len(self.evaluation_header))
            lines += [_row(r) for r in self.evaluation_rows]
        lines += ["", "## Usage", "", "```python", *self.usage_code, "```", self.usage_note]
        lines += ["", "## Record", "", "```json", json.dumps(self.record, indent=2), "```", ""]
        return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def write_card(model_dir: Path, text: str) -> None:
    """Write ``text`` as ``model_dir/README.md``, atomically."""
    data = text.encode("utf-8")
    atomic_write(model_dir / CARD_FILE, lambda f: f.write(data))


def read_card(model_dir: str | Path, marker: str, command: str) -> dict[str, Any]:
    """The record in the model card of ``model_dir``, made by ``repspace <command>``."""
    text = (Path(model_dir) / CARD_FILE).read_text(encoding="utf-8")
    if marker not in text:
        raise RepspaceError(f"{model_dir}: README.md is not a repspace {command} model card")
    block = text.split("```json\n", 1)[1].split("\n```", 1)[0]
    return json.loads(block)


__all__ = ["CARD_FILE", "Card", "read_card", "write_card"]
