"""The Typer app, the console, the options several commands share, and the entry point."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

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


class OnError(StrEnum):
    raise_ = "raise"
    skip = "skip"


class Backend(StrEnum):
    torch = "torch"
    onnx = "onnx"


class Quantize(StrEnum):
    int8 = "int8"


class Engine(StrEnum):
    local = "local"
    ray = "ray"


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
