"""Execution engines of the heavy passes (``encode``, ``select``): ``local`` (this machine: the
process itself and local worker processes) or ``ray`` (a Ray cluster, the optional extra
``repspace[ray]``).

Both engines run the same per-shard and per-chunk functions
(:func:`repspace.space.batching.encode_shard`, :func:`repspace.selection.pipeline.task_features`,
...) on the same shard and chunk compositions, so
they write byte-identical vectors and the same selection; an engine only decides *where* those
functions run. This module picks the engine and connects to Ray:

* :mod:`repspace.space.ray_encoding`: ``encode`` on Ray Data (``map_batches`` over an actor pool).
* :mod:`repspace.engines.ray_tasks`: ``select``'s chunk functions as Ray tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from repspace.errors import RepspaceError

Engine = Literal["local", "ray"]
ENGINES = ("local", "ray")
INSTALL_HINT = "install it with: pip install 'repspace[ray]'"


def check_engine(engine: str, ray_address: str | None = None) -> Engine:
    """Validate an ``--engine`` value (and that ``--ray-address`` goes with ``ray``)."""
    if engine not in ENGINES:
        raise RepspaceError(f"unknown --engine {engine!r}: use local or ray")
    if ray_address is not None and engine != "ray":
        raise RepspaceError("--ray-address needs --engine ray")
    if engine == "ray":
        import_ray()
    return engine  # type: ignore[return-value]


def import_ray() -> Any:
    """The ``ray`` module (with Ray Data), or a one-line error saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise RepspaceError(
            f"--engine ray needs Ray (with Ray Data), not installed; {INSTALL_HINT}"
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """Yield ``ray`` connected to a cluster: the one this process already joined
    (``ray.init`` called by the caller), the cluster at ``address`` (``auto``: the one started on
    this machine with ``ray start --head``; or ``HOST:PORT``, ``ray://HOST:PORT``), or else a
    local one started for this call and shut down after it."""
    ray = import_ray()
    _quiet_data()
    if ray.is_initialized():
        yield ray
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(include_dashboard=False)
    except ConnectionError as e:
        raise RepspaceError(
            f"cannot connect to a Ray cluster at {address!r} ({e}); start one with "
            "'ray start --head' or pass --ray-address HOST:PORT"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_data() -> None:
    """Ray Data's own progress bars and info log lines off (repspace draws its own)."""
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    if hasattr(ctx, "enable_progress_logging"):
        ctx.enable_progress_logging = False


__all__ = ["ENGINES", "INSTALL_HINT", "Engine", "check_engine", "import_ray", "ray_session"]
