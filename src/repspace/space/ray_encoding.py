"""``encode`` on Ray: Ray Data ``map_batches`` over an actor pool of encoders, writing the shards
of the same space the local engine writes.

* The driver reads the corpus with :class:`~repspace.Corpus` (one reader for the validation, the
  generated ids and the corpus-wide duplicate-id check) and cuts it into shards of
  ``shard_size`` records exactly as the local engine does; each shard becomes one block of a
  Ray dataset (an Arrow table in the object store: ids, texts, extra fields).
* ``map_batches`` runs :class:`ShardEncoder` on a pool of actors (``num_actors``); each actor
  loads the encoder once (checked against the driver's fingerprint, so a node with other
  weights is refused), encodes a block with :func:`repspace.space.batching.encode_shard`
  (longest-first batches inside the shard, as locally) and writes the shard's ``.npy`` and
  ``.parquet`` with :func:`repspace.space.store.write_shard` (atomic) into a directory of this
  run (``.ray-<token>/`` inside the space). So the output directory must be on storage every
  node sees (a shared file system).
* The driver moves each finished shard's files into ``shards/`` and records the shards in the
  manifest strictly in order, as they complete (:meth:`~repspace.space.SpaceWriter.record_shard`),
  so a crashed driver leaves a space that resumes like a local one: files of shards that were
  not recorded are dropped and redone. An actor of a killed driver that is still running writes
  only into its own run's directory, which the next run removes: it never replaces a shard.
* A worker that dies is restarted by Ray Data and its block retried (``max_restarts=-1``,
  ``max_task_retries=-1``, Ray Data's default for actor pools); rewriting a shard writes the same
  bytes under the same name, so no row is duplicated or lost.

Deviation from a pure Ray Data pipeline: Ray Data does not read the corpus files itself (its
readers have neither repspace's file:line validation nor the corpus-wide id checks, and the
shards must be cut from the global record stream to equal the local engine's); the driver
streams the records into blocks, which live in the object store (spilled to disk when it is
full) until encoded. Ray moves blocks between processes with its own serialization; nothing
pickled is written to the space.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from repspace.corpus import Record
from repspace.encoders import Encoder
from repspace.engines import ray_session
from repspace.fsio import fsync_dir
from repspace.space.store import SpaceWriter, write_shard

_SHARD = "__shard"  # the shard index column of a block


def shard_block(index: int, records: Sequence[Record], fields: Sequence[str]) -> pa.Table:
    """One shard's records as an Arrow table: shard index, id, text and the extra fields."""
    return pa.table(
        {
            _SHARD: pa.array(np.full(len(records), index, dtype=np.int64)),
            "id": pa.array([r.id for r in records], pa.string()),
            "text": pa.array([r.text for r in records], pa.string()),
            **{f"field:{f}": [r.fields.get(f) for r in records] for f in fields},
        }
    )


class ShardEncoder:
    """The Ray Data UDF (one instance per actor): encodes whole shards and writes their files."""

    def __init__(
        self,
        out: str,
        encoder: dict[str, Any],
        fingerprint: str,
        dim: int,
        batch_size: int,
        store_text: bool,
        fields: list[str],
    ) -> None:
        from repspace.encoders import load_recorded_encoder

        self.out = Path(out)
        self.encoder = load_recorded_encoder(
            {"encoder": encoder, "fingerprint": fingerprint},
            f"Ray worker encoding {out}",
            "pass an encoder that has a spec",
        )
        self.dim, self.batch_size = dim, batch_size
        self.store_text, self.fields = store_text, fields

    def __call__(self, batch: pa.Table) -> dict[str, list[Any]]:
        from repspace.space.batching import encode_shard

        shards = batch.column(_SHARD).to_numpy()
        done_idx: list[int] = []
        entries: list[str] = []
        for index in dict.fromkeys(shards.tolist()):  # one block is one shard; be safe anyway
            rows = batch.filter(pa.array(shards == index))
            ids = rows.column("id").to_pylist()
            texts = rows.column("text").to_pylist()
            extra = {f: rows.column(f"field:{f}").to_pylist() for f in self.fields}
            records = [
                Record(i, t, {f: extra[f][j] for f in self.fields})
                for j, (i, t) in enumerate(zip(ids, texts, strict=True))
            ]
            ids, vectors, columns = encode_shard(
                self.encoder, records, self.batch_size, self.store_text, self.fields
            )
            entry = write_shard(self.out, index, self.dim, ids, vectors, columns)
            done_idx.append(index)
            entries.append(json.dumps(entry))
        return {"shard": done_idx, "entry": entries}


def encode_shards(
    writer: SpaceWriter,
    encoder: Encoder,
    shards: Iterable[tuple[int, Sequence[Record]]],
    *,
    batch_size: int,
    store_text: bool,
    fields: Sequence[str],
    address: str | None = None,
    num_actors: int | None = None,
    on_rows: Callable[[int], Any] | None = None,
) -> None:
    """Encode ``(index, records)`` shards on Ray and record them in ``writer``'s manifest."""
    with ray_session(address) as ray:
        refs = [ray.put(shard_block(i, records, fields)) for i, records in shards]
        if not refs:
            return
        run = writer.path / f".ray-{uuid.uuid4().hex[:12]}"
        (run / "shards").mkdir(parents=True)
        actors = num_actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ds = ray.data.from_arrow_refs(refs).map_batches(
            ShardEncoder,
            fn_constructor_kwargs={
                "out": str(run.resolve()),
                "encoder": encoder.describe(),
                "fingerprint": encoder.fingerprint,
                "dim": encoder.dim,
                "batch_size": batch_size,
                "store_text": store_text,
                "fields": list(fields),
            },
            batch_size=None,  # a whole block (one shard) per call
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(refs))),
            num_cpus=1,
        )
        expected = writer.shards_done + len(refs)
        pending: dict[int, dict[str, Any]] = {}
        for row in ds.iter_rows():
            entry = json.loads(row["entry"])
            for key in ("vectors", "table"):
                os.replace(run / entry[key], writer.path / entry[key])
            fsync_dir(writer.path / "shards")
            pending[int(row["shard"])] = entry
            while (entry := pending.pop(writer.shards_done, None)) is not None:
                writer.record_shard(entry)
                if on_rows is not None:
                    on_rows(int(entry["rows"]))
        if writer.shards_done != expected:  # cannot happen unless Ray lost a block
            raise RuntimeError(f"{writer.shards_done} of {expected} shards came back from Ray")
        shutil.rmtree(run)


__all__ = ["ShardEncoder", "encode_shards", "shard_block"]
