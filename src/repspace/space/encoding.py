"""``repspace encode``: corpus + encoder -> space, in durable shards, resumable after any crash."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repspace.corpus import Corpus, as_corpus, chunked
from repspace.encoders import Encoder, load_encoder
from repspace.engines import Engine, check_engine
from repspace.errors import RepspaceError
from repspace.fsio import writes
from repspace.progress import progress_bar
from repspace.space.batching import encode_shard
from repspace.space.store import DEFAULT_SHARD_SIZE, Space, SpaceWriter, read_manifest


@writes("out")
def encode(
    corpus: str | Path | Sequence[str | Path] | Corpus,
    encoder: str | Encoder,
    out: str | Path,
    *,
    batch_size: int | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    store_text: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    engine: Engine = "local",
    ray_address: str | None = None,
    num_actors: int | None = None,
    wait: bool = False,
    **corpus_options: Any,
) -> Space:
    """Encode every record of ``corpus`` with ``encoder`` into a space at ``out``.

    Rows are stored in corpus order; inside each shard texts are encoded longest-first so that
    batches hold texts of similar length. Each finished shard is written atomically and recorded
    in the manifest; calling this again with the same corpus and encoder resumes after the last
    recorded shard (with the batch and shard size recorded in the manifest) and gives
    byte-identical vectors. A different encoder fingerprint or corpus content is refused unless
    ``overwrite``. ``corpus_options`` go to :class:`~repspace.Corpus`
    (``id_field``, ``text_field``, ``fields``, ``on_error``).

    ``engine="ray"`` encodes the shards on a Ray cluster (``ray_address``; ``num_actors``
    encoder replicas, default one per CPU of the cluster) with the same shard composition, so
    the space is byte-identical to the local engine's (:mod:`repspace.space.ray_encoding`).
    One writer at a time: another process writing ``out`` makes this fail at once, or wait
    with ``wait`` (:func:`~repspace.fsio.writer_lock`).
    """
    check_engine(engine, ray_address)
    if num_actors is not None and num_actors < 1:
        raise RepspaceError("--num-actors must be positive")
    corpus = as_corpus(corpus, **corpus_options)
    scan = corpus.scan(progress=progress)
    enc = load_encoder(encoder)
    batch_size = batch_size or enc.default_batch_size
    if batch_size < 1 or shard_size < 1:
        raise RepspaceError("--batch-size and --shard-size must be positive")
    corpus_info = {**corpus.describe(), "hash": scan.hash, "files": scan.files, "bytes": scan.bytes}
    columns = ["id", *(["text"] if store_text else []), *corpus.fields]
    out = Path(out)

    existing = None if overwrite else read_manifest(out)
    if existing is not None:
        _check_resumable(out, existing, enc, corpus_info, columns)
        if existing["status"] == "complete":
            return Space(out, existing)
        writer = SpaceWriter.resume(out)
        shard_size = int(existing["params"]["shard_size"])
        batch_size = int(existing["params"]["batch_size"])
    else:
        writer = SpaceWriter.create(
            out,
            dim=enc.dim,
            fingerprint=enc.fingerprint,
            encoder=enc.describe(),
            corpus=corpus_info,
            columns=columns,
            params={"batch_size": batch_size, "shard_size": shard_size},
            overwrite=overwrite,
        )

    done = writer.shards_done
    shards = (
        (i, shard) for i, shard in enumerate(chunked(corpus, shard_size)) if i >= done
    )  # the shards before ``done`` are read (and validated) but not encoded again
    with (
        writer,
        progress_bar(
            "encoding", scan.approx_records, "docs", enabled=progress, completed=writer.rows_done
        ) as bar,
    ):
        if engine == "ray":
            from repspace.space.ray_encoding import encode_shards

            encode_shards(
                writer,
                enc,
                shards,
                batch_size=batch_size,
                store_text=store_text,
                fields=corpus.fields,
                address=ray_address,
                num_actors=num_actors,
                on_rows=bar.advance,
            )
        else:
            for _, shard in shards:
                writer.add_shard(
                    *encode_shard(
                        enc, shard, batch_size, store_text, corpus.fields, on_batch=bar.advance
                    )
                )
        return writer.finish(corpus.skipped)


def _check_resumable(
    out: Path, manifest: dict[str, Any], enc: Encoder, corpus: dict[str, Any], columns: list[str]
) -> None:
    old_enc = manifest.get("encoder") or {}
    old_corpus = manifest.get("corpus") or {}
    hint = "pass --overwrite to start over, or choose another --out"
    if manifest["fingerprint"] != enc.fingerprint:
        raise RepspaceError(
            f"{out}: was built with encoder {old_enc.get('spec')} "
            f"(fingerprint {manifest['fingerprint'][:12]}), not {enc.spec} "
            f"(fingerprint {enc.fingerprint[:12]}); {hint}"
        )
    if old_corpus.get("hash") != corpus["hash"]:
        raise RepspaceError(f"{out}: was built from a corpus with other content; {hint}")
    for key in ("id_field", "text_field", "fields", "on_error"):
        if old_corpus.get(key) != corpus[key]:
            raise RepspaceError(
                f"{out}: was built with {key}={old_corpus.get(key)!r}, not {corpus[key]!r}; {hint}"
            )
    if manifest["columns"] != columns:
        raise RepspaceError(
            f"{out}: was built with columns {manifest['columns']}, not {columns}; {hint}"
        )
