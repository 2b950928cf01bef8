"""The options several commands share, each defined once, and the choice types of the others.

A shared option is an ``Annotated`` alias (``JsonOption``) or, where its help depends on the
command, a function returning the ``typer.Option`` to annotate with
(``Annotated[int, seed_option("the anchor sample")]``). Every list of choices is the API's own
(:func:`choice` of the tuple the API module validates against), never a copy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from repspace.corpus import OnError
from repspace.engines import Engine
from repspace.index.fusion import FUSIONS, MODES, NORMS


def choice(values: Sequence[str]) -> Any:
    """A Typer choice type of ``values``: an API module's tuple of allowed strings."""
    return Literal[tuple(values)]


def out_option(help: str) -> Any:
    """``--out``/``-o``: where the command writes; ``help`` says what."""
    return typer.Option("--out", "-o", help=help)


def overwrite_option(help: str = "Replace what is already at --out.") -> Any:
    """``--overwrite``: replace existing output instead of refusing."""
    return typer.Option(help=help)


def seed_option(of: str) -> Any:
    """``--seed``: the seed of ``of`` (what the command draws at random)."""
    return typer.Option(help=f"Seed of {of}.")


def quiet_option(help: str = "No progress bar.") -> Any:
    """``--quiet``/``-q``."""
    return typer.Option("--quiet", "-q", help=help)


JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait", help="If another repspace process is writing the output, wait for it to finish."
    ),
]
QuietOption = Annotated[bool, quiet_option()]
NoVerifyOption = Annotated[
    bool,
    typer.Option(
        "--no-verify",
        help="Skip checking the input's sha256 checksums before reading it (for a space or "
        "index you know is intact; the check runs at disk speed).",
    ),
]
OverwriteOption = Annotated[bool, overwrite_option()]
ReportOption = Annotated[Path | None, typer.Option(help="Write a self-contained HTML report here.")]
OnErrorOption = Annotated[
    OnError, typer.Option(help="Bad records: raise (stop) or skip (count them).")
]
IdFieldOption = Annotated[str, typer.Option(help="Record field holding the id.")]
TextFieldOption = Annotated[str, typer.Option(help="Record field holding the text.")]
EngineOption = Annotated[
    Engine, typer.Option(help="Where the heavy passes run: local processes, or a Ray cluster.")
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        help="With --engine ray: the cluster (auto, HOST:PORT or ray://HOST:PORT) "
        "(default: start a local one)."
    ),
]


def count_or_fraction(value: str) -> float | int:
    """Parse ``N`` (a count) or a fraction in (0, 1), as ``--anchors`` and ``--sample`` take."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise typer.BadParameter(f"{value!r}: give a count N or a fraction in (0, 1)")
    return number if 0 < number < 1 else int(number)


# The hybrid-search options are validated by the API (one-line errors), not by Typer's choices.
ModeOption = Annotated[
    str | None,
    typer.Option(
        help=f"{' | '.join(MODES)}: embeddings, BM25, or both fused (default: hybrid when the "
        "index has a lexical part)."
    ),
]
AlphaOption = Annotated[
    float | None,
    typer.Option(help="Hybrid: weight of the dense side, in [0, 1] (default: the index's)."),
]
FusionOption = Annotated[
    str | None,
    typer.Option(
        help=f"Hybrid: {' | '.join(FUSIONS)} (convex combination of scaled scores, or "
        "reciprocal rank fusion; default: the index's)."
    ),
]
NormOption = Annotated[
    str | None,
    typer.Option(
        help=f"Hybrid convex score scaling: {' | '.join(NORMS)} (observed or theoretical "
        "min-max; default: the index's)."
    ),
]
CandidatesOption = Annotated[
    int | None, typer.Option(help="Hybrid: candidates each side retrieves (default: 100).")
]
