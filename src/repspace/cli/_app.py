"""The Typer app, the console, the JSON printer and the entry point (the options several
commands share are in :mod:`repspace.cli.options`)."""

from __future__ import annotations

import errno
import json
import os
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


#: What the machine refused (a full disk or quota, a file-size limit, a read-only or forbidden
#: target, a path too long): the user's to fix, so one line, like bad input.
ENVIRONMENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EFBIG,
    errno.EROFS,
    errno.ENAMETOOLONG,
    errno.EACCES,
    errno.EPERM,
}
_ENVIRONMENT_TEXTS = ("No space left on device", "Disk quota exceeded", "File too large",
                      "Read-only file system", "Permission denied")  # fmt: skip


def environment_error(e: OSError) -> str | None:
    """The one-line message of an OSError the environment caused (errno or, for libraries that
    drop it, the system's text), else None."""
    if e.errno in ENVIRONMENT_ERRNOS:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror or os.strerror(e.errno)}"
    text = next((t for t in _ENVIRONMENT_TEXTS if t in str(e)), None)
    return f"{str(e).strip().splitlines()[0]}" if text else None


def main() -> None:
    """Entry point: bad input is one line on stderr and exit code 2; so is what the machine
    refused (disk full, read-only target); bugs keep their traceback."""
    try:
        app()
    except RepspaceError as e:
        print(f"repspace: error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        message = environment_error(e)
        if message is None:
            raise
        print(
            f"repspace: error: {message}; nothing was published and the previous output is "
            "intact: fix it (free space, permissions) and run the same command again",
            file=sys.stderr,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        print("repspace: interrupted; re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
