"""Space: ids + vectors + manifest in a directory, and everything that makes one.

:mod:`~repspace.space.store` (the on-disk format: :class:`Space`, :class:`SpaceWriter`),
:mod:`~repspace.space.encoding` (``repspace encode``), :mod:`~repspace.space.batching`
(longest-first batches, the unit of work of both engines), :mod:`~repspace.space.ray_encoding`
(``encode`` on Ray), :mod:`~repspace.space.ingest` (``repspace import``),
:mod:`~repspace.space.cache` (text sets encoded once per encoder).
"""

from repspace.space.store import (
    DEFAULT_SHARD_SIZE,
    MANIFEST,
    Space,
    SpaceInfo,
    SpaceWriter,
    open_space,
    read_manifest,
    write_shard,
    write_space,
)

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "MANIFEST",
    "Space",
    "SpaceInfo",
    "SpaceWriter",
    "open_space",
    "read_manifest",
    "write_shard",
    "write_space",
]
