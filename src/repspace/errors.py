"""The one exception type for bad input: the CLI prints it as one line and exits with code 2."""

from __future__ import annotations


class RepspaceError(Exception):
    """A problem with what the user gave us (a file, a flag, a space), not a bug.

    The message says what is wrong, where, and how to fix it, on one line.
    """


def one_line(e: BaseException) -> str:
    """A library's error message on one line (for quoting it in a RepspaceError)."""
    return " ".join(str(e).split())
