"""Progress bars (Rich) on stderr: shown on a terminal, silent otherwise or with --quiet."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

stderr = Console(stderr=True)


class _Rate(ProgressColumn):
    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} {self.unit}/s" if task.speed else "", style="cyan")


class Bar:
    """Advance it by the number of items done; a no-op when bars are off."""

    def __init__(self, progress: Progress | None = None, task: int | None = None):
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.advance(self._task, n)
        state = self._progress.tasks[self._task]
        if state.total is not None and state.completed > state.total:  # the total was an estimate
            self._progress.update(self._task, total=state.completed)


@contextmanager
def progress_bar(
    description: str, total: int | None, unit: str, enabled: bool = True, completed: int = 0
) -> Iterator[Bar]:
    """A bar with count, rate (``unit``/s) and ETA; ``total`` may be an estimate, ``completed``
    is work done before (a resumed job), left out of the rate."""
    if not enabled or not stderr.is_terminal:
        yield Bar()
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        _Rate(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr) as progress:
        yield Bar(
            progress, progress.add_task(description, total=total or None, completed=completed)
        )
