"""``select``'s passes on Ray: the same pure chunk functions as the local engine
(``task_features``, ``task_log_weights`` of :mod:`repspace.selection.pipeline`), each chunk a Ray
task, results in chunk order, a bounded number of chunks in flight.

:class:`RayChunkMapper` has the interface of :class:`~repspace.engines.local.ChunkMapper`, so
the pipeline, its chunking and its in-order reductions (exact deduplication, bucket sums, the
streaming Gumbel top-k) are those of the local engine and the selection is identical. Arrays
shared by every chunk (the log importance ratios of pass 2) go to the object store once. A task
whose worker dies is retried by Ray (``max_retries``), and since results are consumed in order
by position, a retried chunk is counted exactly once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any

import numpy as np

from repspace.engines import ray_session

#: Arrays larger than this are put in the object store once and passed by reference.
SHARED_BYTES = 1 << 16


def _run(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class RayChunkMapper:
    """``with RayChunkMapper(address) as m: for ctx, out in m.map(fn, items): ...``"""

    def __init__(self, address: str | None = None, in_flight: int | None = None):
        self.address = address
        self.in_flight = in_flight
        self._stack = ExitStack()
        self._ray: Any = None

    def __enter__(self) -> RayChunkMapper:
        self._ray = self._stack.enter_context(ray_session(self.address))
        if self.in_flight is None:
            cpus = int(self._ray.cluster_resources().get("CPU", 1))
            self.in_flight = 2 * max(1, cpus)
        self.jobs = self.in_flight // 2
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._ray = None

    def map(
        self, fn: Callable[..., Any], items: Iterable[tuple[Any, tuple[Any, ...]]]
    ) -> Iterator[tuple[Any, Any]]:
        """For each ``(context, args)`` yield ``(context, fn(*args))`` in order; ``fn`` runs in
        a Ray task, the context stays in this process."""
        ray = self._ray
        task = ray.remote(max_retries=5, retry_exceptions=False)(_run)
        shared: dict[int, tuple[np.ndarray, Any]] = {}

        def ref(arg: Any) -> Any:
            if isinstance(arg, np.ndarray) and arg.nbytes > SHARED_BYTES:
                if id(arg) not in shared:  # keep the array alive so its id stays unique
                    shared[id(arg)] = (arg, ray.put(arg))
                return shared[id(arg)][1]
            return arg

        pending: deque[tuple[Any, Any]] = deque()
        for context, args in items:
            pending.append((context, task.remote(fn, *map(ref, args))))
            while len(pending) > (self.in_flight or 2):
                ctx, out = pending.popleft()
                yield ctx, ray.get(out)
        while pending:
            ctx, out = pending.popleft()
            yield ctx, ray.get(out)


__all__ = ["RayChunkMapper"]
