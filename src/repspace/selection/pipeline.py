"""``select()``: DSIR (Xie et al. 2023) from a target sample and a pool on disk to an output
directory, streaming the pool in passes.

1. **Features** (pass 1): read the pool (:class:`~repspace.Corpus`: file:line errors, duplicate
   ids across files), drop exact duplicates (normalized-text digests, checked in this process so
   the first occurrence wins whatever the chunking), and, in worker processes, count the hashed
   n-grams of each chunk (ngram) or encode it to a temporary memory-mapped file (space). With
   ``dedup="near"`` pass 1 computes MinHash band hashes and the n-gram counts get a pass of their
   own over the survivors, so duplicates never enter the pool model.
2. **Weights** (pass 2): the log importance weight of every surviving document (ngram: the dot
   product of its bucket counts with ``log p_target - log p_pool``; space: the logit of a
   class-balanced logistic regression target vs pool), written to ``weights.parquet``; the
   Gumbel top-k (seeded, per id) and a uniform random selection of the same size are kept in
   bounded memory (:class:`~repspace.selection.resample.TopK`).
3. **Output**: the selected records copied from the pool files (JSONL lines byte for byte), the
   KL reduction of the selection against the random one, ``report.json`` and ``report.html``.

The output directory is built in a temporary sibling and renamed into place at the end, so a
failed run never leaves something that looks complete. Memory: the bucket counts, 2k selection
candidates, and per pool document 8 bytes of id hash (duplicate ids), 8 of text digest, 8 of log
weight (histogram) and 1-2 flags; with ``near``, 8 bytes per LSH band.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from repspace.corpus import Corpus, CorpusFile, SeenIds, as_corpus, chunked
from repspace.engines import Engine, check_engine
from repspace.engines.local import ChunkMapper, usable_cores
from repspace.engines.ray_tasks import RayChunkMapper
from repspace.errors import RepspaceError
from repspace.fsio import jsonl_object, prepare_output, publish_dir, writes
from repspace.kernels import unit_rows
from repspace.progress import progress_bar
from repspace.results import Result
from repspace.selection import dedup as dd
from repspace.selection.features import (
    NUM_BUCKETS,
    ngram_buckets,
    ngram_counts,
    ngram_lengths,
    tokenize,
)
from repspace.selection.resample import RANDOM, SELECTION, TopK, gumbel_noise
from repspace.selection.weights import ImportanceModel, kl_divergence, kl_reduction, log_weights

Dedup = Literal["exact", "near", "none"]
CHUNK = 8192
#: Pools smaller than this are processed inline: starting workers would cost more than it saves.
PARALLEL_MIN_BYTES = 4 << 20
_EXAMPLES = 10
_LINE_BITS = 40  # a location is file_no << 40 | line
#: Shortest selectable document, in tokens: the reference's ``min_example_length`` default.
MIN_TOKENS = 100


# ------------------------------------------------------------------ pure chunk tasks
def task_features(
    texts: list[str], num_buckets: int, counts: bool, bands: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Pass 1 over a chunk: summed bucket counts (or None), n-grams per text, LSH band hashes
    (or None)."""
    flat, rows = ngram_buckets(texts, num_buckets)
    lengths = ngram_lengths(rows, len(texts))
    summed = np.bincount(flat, minlength=num_buckets).astype(np.int64) if counts else None
    return summed, lengths, dd.band_hashes(texts) if bands else None


def task_log_weights(texts: list[str], log_diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pass 2 over a chunk: log importance weights and n-grams per text."""
    return log_weights(texts, log_diff)


# ------------------------------------------------------------------ result
@dataclass
class SelectResult(Result):
    """What :func:`select` wrote: the output directory, the report (as in ``report.json``) and
    the selected ids in pool order."""

    out: Path
    report: dict[str, Any]
    selected_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report: ``report.json`` and ``repspace select --json``."""
        return self.report


@dataclass
class _Chunk:
    ids: list[str]
    texts: list[str]
    locs: np.ndarray  # int64 file_no << 40 | line
    start: int  # position of the first record in the pool


def _pool_chunks(corpus: Corpus, size: int, bar: Any) -> Iterator[_Chunk]:
    position = 0
    for chunk in chunked(corpus.located(), size):
        locs = np.fromiter(
            ((f << _LINE_BITS) | line for f, line, _ in chunk), dtype=np.int64, count=len(chunk)
        )
        yield _Chunk([r.id for _, _, r in chunk], [r.text for _, _, r in chunk], locs, position)
        position += len(chunk)
        bar.advance(len(chunk))


def _features_spec(features: str) -> tuple[str, str | None]:
    if features == "ngram":
        return "ngram", None
    if features.startswith("space:") and len(features) > len("space:"):
        return "space", features[len("space:") :]
    raise RepspaceError(
        f"unknown --features {features!r}: use 'ngram' or 'space:ENCODER' (e.g. space:hash:384)"
    )


# ------------------------------------------------------------------ the command
@writes("out")
def select(
    target: str | Path | Sequence[str | Path] | Corpus,
    pool: str | Path | Sequence[str | Path] | Corpus,
    k: int,
    out: str | Path,
    *,
    features: str = "ngram",
    dedup: Dedup = "exact",
    seed: int = 0,
    on_error: Literal["raise", "skip"] = "raise",
    id_field: str = "id",
    text_field: str = "text",
    num_buckets: int = NUM_BUCKETS,
    min_tokens: int = MIN_TOKENS,
    near_threshold: float | None = None,
    jobs: int | None = None,
    chunk_size: int = CHUNK,
    batch_size: int | None = None,
    wait: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    engine: Engine = "local",
    ray_address: str | None = None,
) -> SelectResult:
    """Select ``k`` documents of ``pool`` distributed like ``target`` by DSIR importance
    resampling, and write them with their weights and a report to ``out``.

    ``features``: ``"ngram"`` (DSIR's hashed unigrams and bigrams, ``num_buckets`` buckets) or
    ``"space:SPEC"`` (vectors of the encoder ``SPEC``, weights from a logistic-regression
    density ratio). ``dedup``: drop exact duplicates (normalized text), near duplicates (MinHash
    LSH at Jaccard ``near_threshold`` = 0.8, or cosine ``near_threshold`` = 0.95 with space
    features) or nothing, before selecting; the first occurrence is kept. ``min_tokens``: never
    select a document of fewer tokens (the features' word/punctuation tokens); 100 as the
    reference package's ``min_example_length``, which like here only removes candidates (short
    documents still count in the pool's n-gram model; a ``space:`` density ratio is fitted on
    the candidates); 0 keeps them. Log weights add up over a
    document's n-grams, so a short document's weight is near 0 and Gumbel noise lifts many over
    weakly target-like long ones (``bench/data_select.py``'s planted test with short
    distractors: 166 target abstracts, a pool of 3,000 technical documents of mixed length + 234
    other abstracts, k = 234: 0.919 of the selection are abstracts at 0, 0.991 at 100; the
    reference the same at each). ``seed`` fixes the Gumbel noise,
    which is a function of the seed and each document's id only. ``jobs``: worker processes
    (default: the usable cores; 1 runs inline). ``engine="ray"`` runs the chunk functions of the
    passes as Ray tasks (on the cluster at ``ray_address``) instead of local processes; the
    chunks and their in-order reductions are the same, so the selection is identical
    (:mod:`repspace.engines.ray_tasks`).
    """
    started = time.perf_counter()
    check_engine(engine, ray_address)
    kind, spec = _features_spec(features)
    if engine == "ray" and kind == "space":
        raise RepspaceError(
            "--engine ray runs --features ngram; space: features encode the pool in one process, "
            "use --engine local (or encode the pool with 'repspace encode --engine ray' first)"
        )
    if dedup not in ("exact", "near", "none"):
        raise RepspaceError(f"unknown --dedup {dedup!r}: use exact, near or none")
    if not isinstance(k, int | np.integer) or k < 1:
        raise RepspaceError(f"-k must be a positive number of documents, not {k!r}")
    if num_buckets < 1 or chunk_size < 1 or min_tokens < 0:
        raise RepspaceError("--num-buckets and the chunk size must be positive, --min-tokens >= 0")
    options = {"id_field": id_field, "text_field": text_field, "on_error": on_error}
    target_c = as_corpus(target, **options)
    pool_c = as_corpus(pool, **options)
    pool_files = pool_c.files()
    target_c.files()
    out = Path(out)
    scan = pool_c.scan(progress=progress)
    if scan.approx_records < k:  # line/row counts: an upper bound on the records
        raise RepspaceError(
            f"-k {int(k):,} is larger than the pool ({_names(pool_c)} holds at most "
            f"{scan.approx_records:,} records); pass a smaller -k"
        )
    jobs = usable_cores() if jobs is None else max(1, int(jobs))
    if scan.bytes < PARALLEL_MIN_BYTES or kind == "space":
        jobs = 1  # small pool: start-up would cost more; space: the encoder has its threads
    build = prepare_output(out, overwrite)
    try:
        mapper_of = ChunkMapper(jobs) if engine == "local" else RayChunkMapper(ray_address)
        with mapper_of as mapper:
            state = _Run(
                kind=kind,
                spec=spec,
                dedup=dedup,
                k=int(k),
                seed=int(seed),
                num_buckets=num_buckets,
                min_tokens=min_tokens,
                near_threshold=near_threshold,
                chunk_size=chunk_size,
                batch_size=batch_size,
                progress=progress,
                mapper=mapper,
                build=build,
                approx=scan.approx_records,
            )
            report = state.run(target_c, pool_c, pool_files)
        report["pool"]["hash"] = scan.hash
        report["params"].update(
            target=[str(p) for p in target_c.paths],
            pool=[str(p) for p in pool_c.paths],
            jobs=jobs if engine == "local" else mapper.jobs,
            engine=engine,
            **options,
        )
        report["timings"]["total_s"] = round(time.perf_counter() - started, 3)
        _write_json(build / "report.json", report)
        from repspace.selection.pages import write_html

        write_html(build / "report.html", report)
        shutil.rmtree(build / ".work", ignore_errors=True)
        publish_dir(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return SelectResult(out, report, state.selected_ids)


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


@dataclass
class _Run:
    kind: str
    spec: str | None
    dedup: str
    k: int
    seed: int
    num_buckets: int
    min_tokens: int
    near_threshold: float | None
    chunk_size: int
    batch_size: int | None
    progress: bool
    mapper: ChunkMapper | RayChunkMapper
    build: Path
    approx: int
    selected_ids: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    # -------------------------------------------------------------- orchestration
    def run(self, target: Corpus, pool: Corpus, files: list[CorpusFile]) -> dict[str, Any]:
        t0 = time.perf_counter()
        target_counts, target_docs, target_vectors = self._target(target)
        self.timings["target_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if self.kind == "ngram":
            kept, eligible, pool_counts, dups = self._pass1_ngram(pool)
            self._check_candidates(pool, kept, eligible)
            log_diff = ImportanceModel(target_counts, pool_counts).log_diff
            weigh = self._ngram_weigher(log_diff)
            model_info: dict[str, Any] = {"pool_ngrams": int(pool_counts.sum())}
        else:
            kept, eligible, vectors, dups = self._pass1_space(pool)
            self._check_candidates(pool, kept, eligible)
            weigh, model_info = self._space_weigher(target_vectors, vectors, kept, eligible)
            pool_counts = None
        self.timings["pass1_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        chosen, randoms, weights, examples = self._pass2(pool, kept, eligible, weigh)
        self.timings["pass2_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        sel_counts, rnd_counts = self._output(pool, files, chosen, randoms)
        self._write_weights(chosen)
        self.timings["output_s"] = time.perf_counter() - t0

        kl = kl_reduction(target_counts, sel_counts, rnd_counts)
        if pool_counts is not None:
            kl["kl_target_pool"] = kl_divergence(target_counts, pool_counts)
        return self._report(
            target, pool, target_docs, target_counts, kept, eligible, dups, weights, examples, kl,
            model_info,
        )  # fmt: skip

    def _check_candidates(self, pool: Corpus, kept: np.ndarray, eligible: np.ndarray) -> None:
        n_candidates = int(eligible.sum())
        short = int((kept & ~eligible).sum())
        too_short = f"{short:,} shorter than --min-tokens {self.min_tokens}"
        if n_candidates == 0:
            raise RepspaceError(
                f"{_names(pool)}: no pool documents left to select from"
                + (f" ({too_short}); pass --min-tokens 0 to keep short ones" if short else "")
            )
        if self.k > n_candidates:
            raise RepspaceError(
                f"-k {self.k:,} is larger than the pool ({n_candidates:,} documents after "
                "deduplication" + (f", {too_short} left out" if short else "") + "); "
                "pass a smaller -k" + (" or --min-tokens 0" if short else "")
            )

    # -------------------------------------------------------------- target
    def _target(self, target: Corpus) -> tuple[np.ndarray, int, np.ndarray | None]:
        counts = np.zeros(self.num_buckets, dtype=np.int64)
        docs = 0
        vecs: list[np.ndarray] = []
        encoder = self._encoder() if self.kind == "space" else None
        with progress_bar("reading target", None, "docs", enabled=self.progress) as bar:
            for chunk in chunked(target, self.chunk_size):
                texts = [r.text for r in chunk]
                counts += ngram_counts(texts, self.num_buckets)
                if encoder is not None:
                    vecs.append(self._encode(encoder, texts))
                docs += len(chunk)
                bar.advance(len(chunk))
        if docs == 0:
            skipped = sum(target.skipped.values())
            raise RepspaceError(
                f"{_names(target)}: the target has no documents"
                + (f" ({skipped:,} skipped as bad records)" if skipped else "")
                + "; give a non-empty target sample"
            )
        self.target_skipped = dict(target.skipped)
        return counts, docs, (np.vstack(vecs) if vecs else None)

    # -------------------------------------------------------------- pass 1 (ngram)
    def _exact(self, seen: SeenIds, texts: list[str]) -> np.ndarray:
        """Keep mask of a chunk: False for an exact duplicate of an earlier text."""
        if self.dedup == "none":
            return np.ones(len(texts), dtype=bool)
        digests = dd.exact_digests(texts)
        _, first = np.unique(digests, return_index=True)
        keep = np.zeros(len(texts), dtype=bool)
        keep[first] = True
        keep &= ~seen.contains(digests)
        seen.add(digests[keep])
        return keep

    def _pass1_ngram(
        self, pool: Corpus
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
        near = self.dedup == "near"
        seen = SeenIds()
        counts = np.zeros(self.num_buckets, dtype=np.int64)
        kept_parts: list[np.ndarray] = []
        long_parts: list[np.ndarray] = []
        band_parts: list[np.ndarray] = []

        def tasks(bar: Any) -> Iterator[tuple[Any, tuple[Any, ...]]]:
            for ch in _pool_chunks(pool, self.chunk_size, bar):
                keep = self._exact(seen, ch.texts)
                texts = [t for t, k in zip(ch.texts, keep, strict=True) if k]
                yield keep, (texts, self.num_buckets, not near, near)

        with progress_bar(
            "pass 1/2: " + ("MinHash" if near else "n-gram counts"), self.approx, "docs",
            enabled=self.progress,
        ) as bar:  # fmt: skip
            for keep, (c, lengths, bands) in self.mapper.map(task_features, tasks(bar)):
                kept_parts.append(keep)
                long = np.zeros(len(keep), dtype=bool)
                long[keep] = (lengths + 1) // 2 >= self.min_tokens
                long_parts.append(long)
                if c is not None:
                    counts += c
                if bands is not None:
                    band_parts.append(bands)
        kept = _cat(kept_parts, bool)
        eligible = kept & _cat(long_parts, bool)
        dups = {"exact": int(len(kept) - kept.sum()) if self.dedup != "none" else 0, "near": 0}
        self.pool_docs = len(kept)
        self.pool_skipped = dict(pool.skipped)
        if near:
            bands = np.vstack(band_parts) if band_parts else np.zeros((0, 1), np.uint64)
            near_dup = np.zeros(len(kept), dtype=bool)
            near_dup[np.flatnonzero(kept)] = dd.later_duplicates(bands)
            del bands, band_parts
            dups["near"] = int(near_dup.sum())
            kept &= ~near_dup
            eligible &= kept
            counts = self._count_pass(pool, kept)
        return kept, eligible, counts, dups

    def _count_pass(self, pool: Corpus, kept: np.ndarray) -> np.ndarray:
        counts = np.zeros(self.num_buckets, dtype=np.int64)

        def tasks(bar: Any) -> Iterator[tuple[Any, tuple[Any, ...]]]:
            for ch in _pool_chunks(pool, self.chunk_size, bar):
                keep = kept[ch.start : ch.start + len(ch.texts)]
                texts = [t for t, k in zip(ch.texts, keep, strict=True) if k]
                yield None, (texts, self.num_buckets, True, False)

        with progress_bar(
            "pass 1b: n-gram counts", len(kept), "docs", enabled=self.progress
        ) as bar:
            for _, (c, _, _) in self.mapper.map(task_features, tasks(bar)):
                counts += c
        return counts

    def _ngram_weigher(self, log_diff: np.ndarray) -> Any:
        def weigh(chunk: _Chunk, mask: np.ndarray) -> tuple[Any, tuple[Any, ...]]:
            texts = [t for t, m in zip(chunk.texts, mask, strict=True) if m]
            return task_log_weights, (texts, log_diff)

        return weigh

    # -------------------------------------------------------------- pass 1 (space)
    def _encoder(self) -> Any:
        """The ``space:`` encoder, loaded once for the target and the pool."""
        if getattr(self, "_loaded_encoder", None) is None:
            from repspace.encoders import load_encoder

            self._loaded_encoder = load_encoder(self.spec)
        return self._loaded_encoder

    def _encode(self, encoder: Any, texts: list[str]) -> np.ndarray:
        bs = self.batch_size or encoder.default_batch_size
        return unit_rows(encoder.encode(texts, batch_size=bs))

    def _pass1_space(
        self, pool: Corpus
    ) -> tuple[np.ndarray, np.ndarray, np.memmap, dict[str, int]]:
        encoder = self._encoder()
        work = self.build / ".work"
        work.mkdir(exist_ok=True)
        path = work / "pool-vectors.f32"
        seen = SeenIds()
        kept_parts: list[np.ndarray] = []
        long_parts: list[np.ndarray] = []
        rows = 0
        with (
            open(path, "wb") as fh,
            progress_bar(
                "pass 1/2: encoding pool", self.approx, "docs", enabled=self.progress
            ) as bar,
        ):
            for ch in _pool_chunks(pool, self.chunk_size, bar):
                keep = self._exact(seen, ch.texts)
                texts = [t for t, k in zip(ch.texts, keep, strict=True) if k]
                long = np.zeros(len(keep), dtype=bool)
                if texts:
                    vecs = self._encode(encoder, texts)
                    fh.write(np.ascontiguousarray(vecs).tobytes())
                    rows += len(vecs)
                    long[keep] = np.fromiter(
                        (len(tokenize(t)) >= self.min_tokens for t in texts),
                        dtype=bool,
                        count=len(texts),
                    )
                kept_parts.append(keep)
                long_parts.append(long)
        dim = encoder.dim
        vectors = (
            np.memmap(path, dtype=np.float32, mode="r", shape=(rows, dim))
            if rows
            else np.zeros((0, dim), np.float32)
        )
        kept = _cat(kept_parts, bool)
        eligible = kept & _cat(long_parts, bool)
        dups = {"exact": int(len(kept) - kept.sum()) if self.dedup != "none" else 0, "near": 0}
        self.pool_docs = len(kept)
        self.pool_skipped = dict(pool.skipped)
        self.vector_rows = np.cumsum(kept) - 1
        if self.dedup == "near" and rows:
            near_dup = np.zeros(len(kept), dtype=bool)
            threshold = self.near_threshold or dd.COSINE_THRESHOLD
            near_dup[np.flatnonzero(kept)] = dd.vector_duplicates(vectors, threshold)
            dups["near"] = int(near_dup.sum())
            kept &= ~near_dup
            eligible &= kept
        return kept, eligible, vectors, dups

    def _space_weigher(
        self,
        target_vectors: np.ndarray | None,
        vectors: np.ndarray,
        kept: np.ndarray,
        eligible: np.ndarray,
    ) -> tuple[Any, dict[str, Any]]:
        from repspace.selection.density import fit_logistic_ratio

        assert target_vectors is not None
        rows = self.vector_rows[np.flatnonzero(eligible)]
        if len(rows) > 50_000:  # a uniform sample, fixed by the seed
            rng = np.random.default_rng(self.seed)
            rows = np.sort(rng.choice(rows, 50_000, replace=False))
        model = fit_logistic_ratio(target_vectors, np.asarray(vectors[rows]))

        def weigh(chunk: _Chunk, mask: np.ndarray) -> tuple[Any, tuple[Any, ...]]:
            pos = chunk.start + np.flatnonzero(mask)
            return _space_weights, (model, vectors, self.vector_rows[pos])

        info = {
            "density_ratio": "class-balanced logistic regression, target vs pool",
            "classifier_train_accuracy": round(model.train_accuracy, 4),
            "classifier_pool_rows": len(rows),
        }
        return weigh, info

    # -------------------------------------------------------------- pass 2
    def _pass2(
        self, pool: Corpus, kept: np.ndarray, eligible: np.ndarray, weigh: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[dict[str, Any]]]]:
        chosen, randoms = TopK(self.k), TopK(self.k)
        top: list[tuple[float, str, str]] = []
        bottom: list[tuple[float, str, str]] = []
        weight_parts: list[np.ndarray] = []
        self._weights_tmp = self.build / ".work" / "weights.parquet"
        self._weights_tmp.parent.mkdir(exist_ok=True)
        schema = pa.schema([("id", pa.string()), ("log_weight", pa.float64())])
        self.selected_positions = np.empty(0, np.int64)

        def tasks(bar: Any) -> Iterator[tuple[Any, tuple[Any, ...]]]:
            for ch in _pool_chunks(pool, self.chunk_size, bar):
                mask = kept[ch.start : ch.start + len(ch.texts)]
                fn, args = weigh(ch, mask)
                yield (ch, mask), (fn, args)

        with (
            pq.ParquetWriter(self._weights_tmp, schema) as writer,
            progress_bar(
                "pass 2/2: importance weights", self.pool_docs, "docs", enabled=self.progress
            ) as bar,
        ):
            for (ch, mask), (w, _) in self.mapper.map(_call, tasks(bar)):
                full = np.full(len(ch.texts), np.nan)
                full[mask] = w
                writer.write_table(pa.table({"id": ch.ids, "log_weight": full}, schema=schema))
                elig = eligible[ch.start : ch.start + len(ch.texts)]
                idx = np.flatnonzero(elig)
                if not len(idx):
                    continue
                ids = [ch.ids[i] for i in idx]
                hashes = SeenIds.hashes(ids)
                lw = full[idx]
                weight_parts.append(lw)
                payload = np.stack([ch.start + idx, ch.locs[idx]], axis=1)
                chosen.push(lw + gumbel_noise(hashes, self.seed, SELECTION), hashes, payload)
                randoms.push(gumbel_noise(hashes, self.seed, RANDOM), hashes, payload)
                top = _extreme(top, lw, ids, ch.texts, idx, largest=True)
                bottom = _extreme(bottom, lw, ids, ch.texts, idx, largest=False)
        chosen_payload, _ = chosen.result()
        random_payload, _ = randoms.result()
        self.selected_positions = np.sort(chosen_payload[:, 0])
        examples = {
            "most_target_like": [
                {"id": i, "log_weight": round(w, 4), "text": t} for w, i, t in top
            ],
            "least_target_like": [
                {"id": i, "log_weight": round(w, 4), "text": t} for w, i, t in bottom
            ],
        }
        return chosen_payload, random_payload, _cat(weight_parts, np.float64), examples

    # -------------------------------------------------------------- output
    def _output(
        self,
        pool: Corpus,
        files: list[CorpusFile],
        chosen: np.ndarray,
        randoms: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        sel_locs = set(chosen[:, 1].tolist())
        rnd_locs = set(randoms[:, 1].tolist())
        by_file: dict[int, set[int]] = {}
        for loc in sel_locs | rnd_locs:
            by_file.setdefault(loc >> _LINE_BITS, set()).add(loc & ((1 << _LINE_BITS) - 1))
        sel_texts: list[str] = []
        rnd_texts: list[str] = []
        self.selected_ids = []
        with (
            open(self.build / "selected.jsonl", "wb") as fh,
            progress_bar("writing selection", len(sel_locs), "docs", enabled=self.progress) as bar,
        ):
            for file_no in sorted(by_file):
                f = files[file_no]
                for line, raw, rec_id, text in _records_at(pool, f, by_file[file_no]):
                    loc = (file_no << _LINE_BITS) | line
                    if loc in sel_locs:
                        fh.write(raw if raw.endswith(b"\n") else raw + b"\n")
                        sel_texts.append(text)
                        self.selected_ids.append(rec_id)
                        bar.advance()
                    if loc in rnd_locs:
                        rnd_texts.append(text)
            fh.flush()
            os.fsync(fh.fileno())
        if len(sel_texts) != len(sel_locs):
            raise RepspaceError(
                f"{_names(pool)}: the pool changed while selecting "
                f"({len(sel_texts)} of {len(sel_locs)} selected records found); run again"
            )
        return ngram_counts(sel_texts, self.num_buckets), ngram_counts(rnd_texts, self.num_buckets)

    def _write_weights(self, chosen: np.ndarray) -> None:
        selected = self.selected_positions
        src = pq.ParquetFile(self._weights_tmp)
        schema = pa.schema(
            [("id", pa.string()), ("log_weight", pa.float64()), ("selected", pa.bool_())]
        )
        start = 0
        path = self.build / "weights.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for batch in src.iter_batches(batch_size=1 << 16):
                pos = np.arange(start, start + batch.num_rows)
                flags = np.isin(pos, selected[(selected >= start) & (selected < pos[-1] + 1)])
                lw = batch.column("log_weight").to_numpy(zero_copy_only=False)
                table = pa.table(
                    {
                        "id": batch.column("id"),
                        "log_weight": pa.array(lw, mask=np.isnan(lw)),
                        "selected": flags,
                    },
                    schema=schema,
                )
                writer.write_table(table)
                start += batch.num_rows
        with open(path, "rb+") as f:
            os.fsync(f.fileno())

    # -------------------------------------------------------------- report
    def _report(
        self,
        target: Corpus,
        pool: Corpus,
        target_docs: int,
        target_counts: np.ndarray,
        kept: np.ndarray,
        eligible: np.ndarray,
        dups: dict[str, int],
        weights: np.ndarray,
        examples: dict[str, Any],
        kl: dict[str, float],
        model_info: dict[str, Any],
    ) -> dict[str, Any]:
        edges = np.histogram_bin_edges(weights, bins=40) if len(weights) else np.zeros(2)
        hist, _ = np.histogram(weights, bins=edges)
        q = np.quantile(weights, [0.01, 0.1, 0.5, 0.9, 0.99]) if len(weights) else [np.nan] * 5
        short = int((kept & ~eligible).sum())
        return {
            "format": "repspace.select",
            "format_version": 1,
            "method": "DSIR (Xie et al. 2023): importance resampling, Gumbel top-k",
            "params": {
                "k": self.k,
                "features": "ngram" if self.kind == "ngram" else f"space:{self.spec}",
                "num_buckets": self.num_buckets,
                "dedup": self.dedup,
                "near_threshold": self.near_threshold,
                "min_tokens": self.min_tokens,
                "seed": self.seed,
            },
            "target": {
                "documents": target_docs,
                "ngrams": int(target_counts.sum()),
                "skipped": self.target_skipped,
            },
            "pool": {
                "documents": self.pool_docs,
                "skipped": self.pool_skipped,
                "duplicates": dups,
                "too_short": short,
                "candidates": int(eligible.sum()),
                **model_info,
            },
            "selected": self.k,
            "kl": {key: round(v, 6) for key, v in kl.items()},
            "log_weights": {
                "mean": float(np.mean(weights)),
                "std": float(np.std(weights)),
                "min": float(np.min(weights)),
                "max": float(np.max(weights)),
                "quantiles": {
                    p: float(v) for p, v in zip(["p1", "p10", "p50", "p90", "p99"], q, strict=True)
                },
                "histogram": {"edges": edges.tolist(), "counts": hist.tolist()},
            },
            "examples": examples,
            "timings": {key: round(v, 3) for key, v in self.timings.items()},
            "files": ["selected.jsonl", "weights.parquet", "report.json", "report.html"],
        }


def _call(fn: Any, args: tuple[Any, ...]) -> Any:
    return fn(*args)


def _space_weights(model: Any, vectors: np.ndarray, rows: np.ndarray) -> tuple[Any, None]:
    if not len(rows):
        return np.empty(0), None
    return model.log_ratio(np.asarray(vectors[rows])), None


def _extreme(
    best: list[tuple[float, str, str]],
    lw: np.ndarray,
    ids: list[str],
    texts: list[str],
    idx: np.ndarray,
    *,
    largest: bool,
) -> list[tuple[float, str, str]]:
    n = min(_EXAMPLES, len(lw))
    order = np.argsort(-lw if largest else lw, kind="stable")[:n]
    merged = best + [(float(lw[j]), ids[j], texts[idx[j]][:500]) for j in order]
    merged.sort(key=lambda t: (-t[0] if largest else t[0], t[1]))
    return merged[:_EXAMPLES]


def _cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def _names(corpus: Corpus) -> str:
    return ", ".join(str(p) for p in corpus.paths)


def _records_at(
    corpus: Corpus, f: CorpusFile, lines: set[int]
) -> Iterator[tuple[int, bytes, str, str]]:
    """(line, original record as bytes, id, text) for the wanted lines/rows of one pool file:
    JSONL lines byte for byte; text lines, CSV/TSV and Parquet rows as JSON objects of all
    their columns."""
    if f.format == "jsonl":
        with open(f.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno in lines:
                    obj = jsonl_object(raw, f"{f.path}:{lineno}")
                    assert obj is not None  # pass 1 read a record on this line
                    rid = obj.get(corpus.id_field)
                    rid = f"{f.name}:{lineno}" if rid is None else str(rid)
                    yield lineno, raw, rid, obj[corpus.text_field]
        return
    if f.format == "text":
        with open(f.path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno in lines:
                    text = raw.decode("utf-8").rstrip("\r\n")
                    rid = f"{f.name}:{lineno}"
                    yield lineno, _json_line({"id": rid, "text": text}), rid, text
        return
    if f.format == "parquet":
        columns = pq.ParquetFile(f.path).schema_arrow.names
    else:
        with open(f.path, encoding="utf-8", newline="") as fh:
            columns = next(csv.reader(fh, delimiter="\t" if f.format == "tsv" else ","))
    one = Corpus(
        f.path,
        id_field=corpus.id_field,
        text_field=corpus.text_field,
        fields=columns,
        on_error="skip",
    )
    for _, lineno, rec in one.located():
        if lineno in lines:
            rid = rec.fields.get(corpus.id_field)
            rid = f"{f.name}:{lineno}" if rid is None else str(rid)
            yield lineno, _json_line(rec.fields), rid, rec.text


def _json_line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, default=str) + "\n").encode("utf-8")


__all__ = ["SelectResult", "select", "task_features", "task_log_weights"]
