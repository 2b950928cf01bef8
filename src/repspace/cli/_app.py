"""The Typer app, the console, the JSON printer and the entry point (the options several
commands share are in :mod:`repspace.cli.options`)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from repspace._version import __version__
from repspace.errors import RepspaceError

app = typer.Typer(
    name="repspace",
    help="Pretrained representation spaces: encode a corpus, then measure, compress, align and "
    "search the space.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(soft_wrap=True)


def print_json(obj: Any) -> None:
    """Print ``obj`` (a result's ``to_dict()``, or plain data) as JSON on stdout, the one format
    of every ``--json`` (and ``migrate``) output: one line in a pipe or a file, indented and
    highlighted on a terminal."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    if out.is_terminal:
        out.print_json(data=obj)
    else:
        print(json.dumps(obj), flush=True)


def _version(value: bool) -> None:
    if value:
        print(f"repspace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Corpus -> Encoder -> Space -> Map -> Index."""


def main() -> None:
    """Entry point: bad input is one line on stderr and exit code 2; bugs keep their traceback."""
    try:
        app()
    except RepspaceError as e:
        print(f"repspace: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("repspace: interrupted; re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
