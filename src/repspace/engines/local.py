"""Map a pure function over chunks of documents on local cores, in order, with a bounded number
of chunks in flight (so a pool larger than RAM streams through): the chunk functions (of
:mod:`repspace.selection.pipeline`, for instance) run in spawned worker processes (in-memory
pipes, nothing on disk), or inline with one job."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ChunkMapper:
    """``with ChunkMapper(jobs) as m: for out in m.map(fn, args_iter): ...`` (results in order)."""

    def __init__(self, jobs: int = 1):
        self.jobs = max(1, int(jobs))
        self._pool: Any = None

    def __enter__(self) -> ChunkMapper:
        if self.jobs > 1:
            self._pool = multiprocessing.get_context("spawn").Pool(self.jobs)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def map(
        self, fn: Callable[..., Any], items: Iterable[tuple[Any, tuple[Any, ...]]]
    ) -> Iterator[tuple[Any, Any]]:
        """For each ``(context, args)`` yield ``(context, fn(*args))``; the context (anything the
        caller needs with the result) stays in this process."""
        if self._pool is None:
            for context, args in items:
                yield context, fn(*args)
            return
        pending: deque[tuple[Any, Any]] = deque()
        for context, args in items:
            pending.append((context, self._pool.apply_async(fn, args)))
            while len(pending) > 2 * self.jobs:
                ctx, res = pending.popleft()
                yield ctx, res.get()
        while pending:
            ctx, res = pending.popleft()
            yield ctx, res.get()


__all__ = ["ChunkMapper", "usable_cores"]
