"""Upgrade a space to a new embedding model without downtime (backward-compatible queries).

Following the backward-compatibility literature (BT², Shen et al. 2020 "Towards
Backward-Compatible Representation Learning"; Ricci et al. "Backward-Compatible Aligned
Representations via an Orthogonal Transformation Layer") but with a post-hoc map instead of
training: a NEW→OLD map is fitted on a sample of documents re-embedded with NEW. Which map is
chosen by measurement (``method=None``, "auto"): every migrate method (:mod:`repspace.maps.
aligners`, and the Drift-Adapter maps of :mod:`repspace.maps.adapters`: low-rank affine, residual
MLP) is fitted without the last ``HOLD_OUT`` of the sampled documents and scored on them (and on
a task when given); the best is refitted on the whole sample. A bridge
(:mod:`repspace.maps.bridge`, fitted once per model pair on generic text) joins the comparison
as it is and refined on the sample.

Anchors. A map from NEW (e.g. 384 or 768 dims) to OLD fitted on the sampled documents alone is
under-determined when the sample is small (10% of 400 documents = 40 pairs for a 384-dim map).
Like Mikolov et al. (2013), who fit their translation matrix on thousands of dictionary pairs,
and Text-to-Concept (Moayeri et al. 2023), which fits its linear map on generic data rather than
the task's, we add anchor pairs that cost no more of the user's corpus: by default (``sentences``)
the sentences of every sampled multi-sentence document, embedded with both NEW and OLD (about one
more pass of the sample through each model; OLD's doc vectors are the stored ones), and
optionally ``extra_anchors``: any corpus of general text (or a seeded sample of ``extra_limit``
of it) embedded with both models, cached per model fingerprint. OLD is the
encoder recorded in the space's manifest (fingerprint-checked). ``bench/align.py`` measures each
source of anchors; ``plan`` reports a learning curve and how many re-embedded documents reach the
goal (95% of OLD→OLD nDCG@10 by default).

1. :func:`plan` re-embeds a sample with NEW, fits and compares the NEW→OLD maps, reports
   nDCG@10 of NEW queries mapped into OLD vs OLD queries on a task (and held-out
   self-retrieval), with each method's learning curve.
2. :func:`start` writes the migration state (``migration.json``, atomic) and the map; from then
   on :meth:`Migration.search` embeds queries with NEW and maps them into OLD.
3. :meth:`Migration.backfill` re-embeds documents with NEW into ``MIGDIR/new`` in shards of
   ``batch`` rows of the old space, with :class:`~repspace.space.SpaceWriter` (each shard written
   atomically, then the manifest): a crash loses at most the shard in flight, a rerun resumes
   after the last recorded shard, nothing is duplicated (shard i is always old rows
   ``[i*batch, (i+1)*batch)``). At 100% the new space is completed and the map retired.

Mixed search: the first ``done`` old rows are served by the NEW space with the NEW query, the
rest by the OLD space with the mapped query, both by cosine, merged by score. Justification: the
map is fitted so that mapped NEW vectors reproduce OLD vectors, hence OLD-space cosines of the
mapped query estimate the cosines NEW would give after normalisation only approximately; the two
score scales can still differ (a model whose cosines are globally higher wins ties). We therefore
standardise each part's cosines by the mean/std of query–document cosines measured at ``start``
on the plan sample (per space), which puts both on a common z-score scale, shown in NEW's cosine
units (the z-score times NEW's std plus its mean: the same order); raw cosine is used when no
statistics are available.

Hybrid search: ``start`` also builds a BM25 index of the old texts (:mod:`repspace.index.lexical`;
the lexical side needs no re-embedding, so it serves unchanged through the whole migration), and
:meth:`Migration.search` fuses it with the mixed dense scores (:mod:`repspace.index.fusion`), by
default as an index with a lexical part does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repspace.encoders import Encoder, load_encoder, load_recorded_encoder
from repspace.errors import RepspaceError
from repspace.evaluation.retrieval import retrieval_metrics
from repspace.fsio import (
    json_kind,
    plain_name,
    read_format_json,
    read_json,
    write_format_json,
    writer_lock,
    writes,
)
from repspace.index.fusion import Candidates, Fusion, check_mode, hybrid
from repspace.index.lexical import LexicalIndex, lexical_meta_problem
from repspace.kernels import top_k, unit_rows
from repspace.maps.base import Map, load_map
from repspace.maps.bridge import anchor_texts, held_out_quality, load_bridge, pair_vectors
from repspace.maps.registry import BRIDGE_METHODS, MIGRATE_METHODS, make_map, map_class
from repspace.progress import progress_bar
from repspace.results import INTERNAL, OPTIONAL, Result, renamed
from repspace.space import Space, SpaceWriter, open_space, read_manifest
from repspace.space.batching import encode_sorted

STATE = "migration.json"
LEXICAL = "lexical"


def _old_texts(old: Space) -> list[str]:
    texts = old.texts
    if texts is None:
        raise RepspaceError(
            f"{old.path}: the space stores no texts; re-encode it with texts to migrate it"
        )
    return texts


#: ``plan``'s learning curve: fractions of the space's documents (capped at the sample).
CURVE = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
#: ``plan``'s default goal: NEW→OLD keeps this share of OLD→OLD nDCG@10.
GOAL = 0.95


@dataclass
class Anchors:
    """NEW/OLD vector pairs the map is fitted on. ``rows``: the sampled OLD rows in sample order;
    ``*_docs``: their vectors (OLD ones as stored); ``*_sents``: the sentences of those documents
    (``owner``: position in ``rows``), embedded by both encoders; ``*_extra``: extra anchor
    texts (any corpus), embedded by both encoders."""

    rows: np.ndarray
    new_docs: np.ndarray
    old_docs: np.ndarray
    new_sents: np.ndarray
    old_sents: np.ndarray
    owner: np.ndarray
    new_extra: np.ndarray
    old_extra: np.ndarray

    def pairs(self, docs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(NEW, OLD) anchor pairs from the first ``docs`` sampled documents (all by default)."""
        k = len(self.rows) if docs is None else docs
        keep = self.owner < k
        x = np.concatenate([self.new_docs[:k], self.new_sents[keep], self.new_extra])
        y = np.concatenate([self.old_docs[:k], self.old_sents[keep], self.old_extra])
        return x, y

    def counts(self, docs: int | None = None) -> dict[str, int]:
        k = len(self.rows) if docs is None else docs
        return {
            "documents": int(k),
            "sentences": int((self.owner < k).sum()),
            "extra": len(self.new_extra),
        }


def sentence_anchors(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The sentences of every text with at least two
    (:func:`repspace.evaluation.generators.sentences`) and the index of the text each comes
    from; one-sentence texts add nothing beyond the document."""
    from repspace.evaluation.generators import sentences

    out: list[str] = []
    owner: list[int] = []
    for i, t in enumerate(texts):
        parts = sentences(t)
        if len(parts) > 1:
            out.extend(parts)
            owner.extend([i] * len(parts))
    return out, np.array(owner, dtype=np.int64)


def _sample_rows(n: int, sample: int | float, seed: int) -> np.ndarray:
    k = round(sample * n) if isinstance(sample, float) and sample < 1 else int(sample)
    k = max(2, min(k, n))
    return np.random.default_rng(seed).choice(n, k, replace=False)  # sample order (nested)


def _embed(enc: Any, texts: list[str], dim: int) -> np.ndarray:
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    return encode_sorted(enc, texts, enc.default_batch_size)


def collect_anchors(
    old: Space,
    new_encoder: str | Encoder,
    sample: int | float,
    seed: int,
    *,
    sentences: bool = True,
    extra_anchors: str | Path | list[str] | None = None,
    extra_limit: int | None = None,
    progress: bool = False,
) -> Anchors:
    """Re-embed ``sample`` documents with NEW (their OLD vectors are the stored ones) and, with
    ``sentences``, their sentences with both NEW and OLD; ``extra_anchors`` (a corpus, or a list
    of texts; ``extra_limit``: a seeded sample of that many) are embedded with both too, cached
    (:func:`repspace.maps.bridge.pair_vectors`; the sample does not depend on ``seed``, so every
    migration with the same extra anchors shares their vectors). Sentences and extra texts need
    the OLD encoder, loaded from the space's manifest and checked against its fingerprint."""
    texts = _old_texts(old)
    rows = _sample_rows(old.n, sample, seed)
    enc = load_encoder(new_encoder)
    docs = [texts[i] for i in rows]
    sents, owner = sentence_anchors(docs) if sentences else ([], np.zeros(0, np.int64))
    extra_ids, extra = (
        anchor_texts(extra_anchors, extra_limit) if extra_anchors is not None else ([], [])
    )
    old_enc = None
    if sents or extra:
        old_enc = load_recorded_encoder(
            old.manifest,
            old.path,
            "anchor sentences and --extra-anchors need the OLD encoder; pass --no-sentences",
        )
    new_extra, old_extra = (
        pair_vectors(extra_ids, extra, enc, old_enc, progress=progress)
        if old_enc is not None
        else (np.zeros((0, enc.dim), np.float32), np.zeros((0, old.dim), np.float32))
    )
    return Anchors(
        rows=rows,
        new_docs=_embed(enc, docs, enc.dim),
        old_docs=np.asarray(old.vectors)[rows],
        new_sents=_embed(enc, sents, enc.dim),
        old_sents=_embed(old_enc, sents, old.dim),
        owner=owner,
        new_extra=new_extra,
        old_extra=old_extra,
    )


#: Share of the sampled documents ``plan`` holds out to compare methods (at least 5 documents).
HOLD_OUT = 0.2


def _candidates(method: str | None, bridge: Map | None) -> list[str]:
    """The methods to compare: the one asked for, or every migrate method (and, with a bridge,
    the bridge alone and refined)."""
    known = (*MIGRATE_METHODS, *BRIDGE_METHODS)
    if method is not None and method not in known:
        raise RepspaceError(f"migrate: method must be one of auto, {', '.join(known)}")
    if method in BRIDGE_METHODS and bridge is None:
        raise RepspaceError(f"migrate: method {method} needs --bridge (see `migrate bridge`)")
    if method is not None:
        return [method]
    return [*MIGRATE_METHODS, *(BRIDGE_METHODS if bridge is not None else ())]


def _fit(
    a: Anchors,
    method: str,
    docs: int | None = None,
    bridge: Map | None = None,
    **fingerprints: str | None,
) -> Map:
    """The ``method`` map NEW→OLD fitted on the anchors of the first ``docs`` documents (the
    bridge, as it is or refined on them); ``fingerprints``: ``source_fingerprint`` /
    ``target_fingerprint`` (NEW's, OLD's)."""
    if method == "bridge":
        assert bridge is not None
        return bridge
    x, y = a.pairs(docs)
    if method == "bridge+refined":
        return make_map("residual-mlp").fit(x, y, init=bridge, **fingerprints)
    return make_map(method, "migrate").fit(x, y, **fingerprints)


def _min_anchors(method: str) -> int:
    kind = "residual-mlp" if method == "bridge+refined" else method
    return 0 if method == "bridge" else int(map_class(kind).min_anchors)


def _curve_sizes(n: int, sample: int) -> list[int]:
    sizes = sorted({max(2, round(f * n)) for f in CURVE if round(f * n) < sample} | {sample})
    return sizes


def _advice(curve: list[dict[str, Any]], key: str, goal: float | None, n: int) -> str:
    last = curve[-1]
    if goal is None:
        return (
            f"no task: {key} of held-out documents is {last[key]:.3f} with "
            f"{last['documents']} re-embedded documents; pass --task (see make-task) to measure "
            "the retained nDCG@10 and get a sample size"
        )
    ok = [p for p in curve if p[key] is not None and p[key] >= goal]
    if ok:
        d = ok[0]["documents"]
        return (
            f"retained >= {goal:g} from {d} re-embedded documents ({d / n:.1%} of the space); "
            f"{last['documents']} give {last[key]:.3f}"
        )
    gain = (
        f"; the last step of the curve gained {last[key] - curve[-2][key]:+.3f}"
        if len(curve) > 1
        else ""
    )
    return (
        f"retained {last[key]:.3f} < {goal:g} with {last['documents']} re-embedded documents "
        f"({last['documents'] / n:.1%} of the space){gain}: re-embed more (--sample), add "
        "--extra-anchors, or backfill before switching queries to NEW"
    )


@dataclass(kw_only=True)
class MigrationPlan(Result):
    """What :func:`plan` expects of a migration; ``to_dict()`` is ``repspace migrate plan``'s
    output (without the map object)."""

    #: The OLD space, the NEW encoder spec, the map method used (the recommended one unless one
    #: was asked for).
    old: str
    new: str
    method: str
    #: Documents re-embedded with NEW, and the anchor pairs fitted on (documents, sentences, ...).
    sample: int
    anchors: dict[str, int]
    #: The bridge started from (its directory), when one was given.
    bridge: str | None = field(default=None, metadata=OPTIONAL)
    #: With a task: OLD→OLD and NEW-mapped→OLD nDCG@10 of the map fitted on the whole sample,
    #: their ratio (None when OLD→OLD is 0), the task's name.
    old_ndcg10: float | None = field(default=None, metadata=OPTIONAL)
    mapped_ndcg10: float | None = field(default=None, metadata=OPTIONAL)
    retained: float | None = None
    task: str | None = field(default=None, metadata=OPTIONAL)
    #: Held-out sampled documents, mapped from NEW, retrieving their own OLD vector among all of
    #: the space's (by the chosen method fitted without them).
    self_r1: float | None = field(default=None, metadata=renamed("self_r@1", optional=True))
    self_r10: float | None = field(default=None, metadata=renamed("self_r@10", optional=True))
    #: The chosen method's learning curve (one dict per number of sampled documents fitted on)
    #: and the sample-size advice.
    curve: list[dict[str, Any]] | None = field(default=None, metadata=OPTIONAL)
    advice: str | None = field(default=None, metadata=OPTIONAL)
    #: Every method compared: held-out scores (and task scores), its curve, or why skipped.
    methods: dict[str, dict[str, Any]] | None = field(default=None, metadata=OPTIONAL)
    #: Sampled documents held out to compare the methods.
    held_out: int | None = field(default=None, metadata=OPTIONAL)
    #: The map NEW→OLD fitted on the whole sample.
    fitted: Map = field(metadata=INTERNAL, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if self.task is None:  # with a task, retained is kept even when None
            del out["retained"]
        return out


@dataclass(kw_only=True)
class MigrationStatus(Result):
    """Where a :class:`Migration` stands; ``to_dict()`` is ``repspace migrate status``'s output."""

    #: The migration directory, the OLD space, the NEW encoder spec.
    path: str
    old: str
    new_encoder: str
    #: ``mapped``, ``backfilling`` or ``done``.
    status: str
    #: Rows re-embedded with NEW, of ``n``, and their share.
    done: int
    n: int
    fraction: float
    #: The map NEW→OLD inside the directory (None once the backfill is done).
    map: str | None


class _Scorer:
    """Scores a map NEW→OLD: on held-out sampled documents (mean cosine over them and their
    sentences; each retrieving its own OLD row among all of the space's) and, with a task, by
    nDCG@10 of mapped NEW queries over OLD's documents."""

    def __init__(self, old: Space, a: Anchors, held: int, task: Any, new_enc: Encoder):
        k = len(a.rows)
        self.space = np.asarray(old.vectors)
        self.held_rows = a.rows[k - held :]
        keep = a.owner >= k - held
        self.x = np.concatenate([a.new_docs[k - held :], a.new_sents[keep]])
        self.y = np.concatenate([a.old_docs[k - held :], a.old_sents[keep]])
        self.task = task
        if task is not None:
            old_enc = load_encoder(old.encoder_spec or "")
            qs = list(task.queries.values())
            self.docs = encode_sorted(old_enc, task.doc_texts, old_enc.default_batch_size)
            self.q_new = encode_sorted(new_enc, qs, new_enc.default_batch_size)
            q_old = encode_sorted(old_enc, qs, old_enc.default_batch_size)
            self.base = retrieval_metrics(task, q_old, self.docs)["metrics"]["ndcg@10"]

    def ndcg(self, m: Map) -> dict[str, Any]:
        nd = retrieval_metrics(self.task, m.transform(self.q_new), self.docs)["metrics"]["ndcg@10"]
        return {"ndcg10": nd, "retained": nd / self.base if self.base else None}

    def __call__(self, m: Map) -> dict[str, Any]:
        out = (
            held_out_quality(m, self.x, self.y, pool=self.space, own=self.held_rows)
            if len(self.held_rows)
            else {}
        )
        return out | (self.ndcg(m) if self.task is not None else {})

    def key(self, scores: dict[str, Any]) -> tuple[float, ...]:
        """How methods are ranked: retained nDCG@10 with a task, else held-out self-retrieval
        (R@10, then R@1), then the held-out cosine."""
        first = (scores.get("retained") or 0.0,) if self.task is not None else ()
        rest = tuple(scores.get(k, 0.0) for k in ("self_r@10", "self_r@1", "cosine"))
        return first + rest


def plan(
    old: str | Path | Space,
    new_encoder: str,
    *,
    task: Any = None,
    sample: int | float = 0.1,
    method: str | None = None,
    seed: int = 0,
    sentences: bool = True,
    extra_anchors: str | Path | list[str] | None = None,
    extra_limit: int | None = None,
    bridge: str | Path | None = None,
    curve: bool = True,
    goal: float = GOAL,
    verify: bool = True,
    progress: bool = False,
) -> MigrationPlan:
    """Fit NEW→OLD maps on ``sample`` re-embedded documents (with their sentences and the extra
    anchors) and choose one by measurement (OLD's shards checksum-verified first unless
    ``verify`` is False).

    Every migrate method (``method=None``; with a ``bridge``, also the bridge alone and refined)
    is fitted without the last ``HOLD_OUT`` of the sampled documents and scored on them (mean
    cosine to their OLD vectors, and each retrieving its own OLD row among all of the space's:
    self R@1, R@10) and, with a retrieval ``task``, by nDCG@10 of NEW queries mapped into OLD
    vs OLD queries. The best (task first, then the held-out scores) is recommended and refitted
    on the whole sample. With ``curve``, each method's learning curve (refitted on the first
    1%, 2%, 5%, ... of the space's documents) and ``advice``: how many re-embedded documents
    reach ``goal`` of OLD→OLD nDCG@10 (with a task)."""
    old = open_space(old, verify=verify)
    result, _ = _plan(old, new_encoder, task=task, sample=sample, method=method, seed=seed,
                      sentences=sentences, extra_anchors=extra_anchors, extra_limit=extra_limit,
                      bridge=bridge, curve=curve, goal=goal, progress=progress)  # fmt: skip
    return result


def _plan(
    old: Space,
    new_encoder: str,
    *,
    task: Any,
    sample: int | float,
    method: str | None,
    seed: int,
    sentences: bool,
    extra_anchors: str | Path | list[str] | None,
    extra_limit: int | None,
    bridge: str | Path | None,
    curve: bool,
    goal: float,
    progress: bool,
) -> tuple[MigrationPlan, Anchors]:
    from repspace.evaluation.tasks import load_task

    _old_texts(old)
    new_enc = load_encoder(new_encoder)  # once: loading and fingerprinting read the weights
    new_fp = new_enc.fingerprint
    fps = {"source_fingerprint": new_fp, "target_fingerprint": old.fingerprint}
    bridge_map = (
        load_bridge(bridge, old_fingerprint=old.fingerprint, new_fingerprint=new_fp)
        if bridge is not None
        else None
    )
    names = _candidates(method, bridge_map)
    a = collect_anchors(old, new_enc, sample, seed, sentences=sentences,
                        extra_anchors=extra_anchors, extra_limit=extra_limit,
                        progress=progress)  # fmt: skip
    k = len(a.rows)
    t = load_task(task) if isinstance(task, str | Path) else task
    compare = len(names) > 1 or curve
    held = max(1, round(HOLD_OUT * k)) if compare and k >= 5 else 0
    score = _Scorer(old, a, held, t, new_enc)
    sizes = _curve_sizes(old.n, k - held) if curve else [k - held]
    methods: dict[str, dict[str, Any]] = {}
    for name in names if compare else []:
        pairs = len(a.pairs(k - held)[0])
        if pairs < _min_anchors(name):
            methods[name] = {"skipped": f"{pairs} anchor pairs, needs {_min_anchors(name)}"}
            continue
        points = [
            {**a.counts(size), **score(_fit(a, name, size, bridge_map))}
            for size in sizes
            if len(a.pairs(size)[0]) >= _min_anchors(name)
        ]
        methods[name] = {**points[-1], "curve": points}
    scored = [n for n in names if n in methods and "skipped" not in methods[n]]
    if compare and not scored:
        needs = ", ".join(f"{n} needs {_min_anchors(n)}" for n in names)
        raise RepspaceError(
            f"migrate: {len(a.pairs(k - held)[0])} anchor pairs to fit on are too few ({needs}); "
            "re-embed more documents (--sample) or add --extra-anchors"
        )
    chosen = max(scored, key=lambda n: score.key(methods[n])) if compare else names[0]
    m = _fit(a, chosen, None, bridge_map, **fps)
    out = MigrationPlan(
        old=str(old.path),
        new=new_encoder,
        method=chosen,
        sample=k,
        anchors=a.counts(),
        bridge=str(bridge) if bridge is not None else None,
        fitted=m,
        methods=methods or None,
        held_out=held if compare else None,
    )
    nd = score.ndcg(m) if t is not None else {}
    if t is not None:
        out.old_ndcg10, out.mapped_ndcg10, out.retained = score.base, nd["ndcg10"], nd["retained"]
        out.task = t.name
    if compare and held:
        out.self_r1 = methods[chosen].get("self_r@1")
        out.self_r10 = methods[chosen].get("self_r@10")
    if curve and (t is not None or held):
        # the whole sample's point, when a task can score it (held-out scores cannot)
        out.curve = methods[chosen]["curve"] + ([{**a.counts(), **nd}] if held and nd else [])
        out.advice = (
            _advice(out.curve, "retained", goal if score.base else None, old.n)
            if t is not None
            else _advice(out.curve, "self_r@10", None, old.n)
        )
    return out, a


#: The JSON kind of every field of ``migration.json`` (see :func:`read_format_json`).
_FIELDS = {
    "old": "string", "old_fingerprint": "string", "new_encoder": "string",
    "new_fingerprint": "string", "map": "string|null", "batch": "integer", "n": "integer",
    "status": "string", "score_stats": "object|null|missing", "lexical": "object|null|missing",
    "lexical.dir": "string|missing", "lexical.sha256": "object|missing",
    "lexical.bm25": "object|missing", "lexical.analyzer": "object|missing",
}  # fmt: skip


def read_state(file: Path) -> dict[str, Any]:
    """``migration.json``, checked: one-line errors for a damaged file."""
    hint = "; the migration cannot be used: start it again in a new directory"
    state = read_format_json(file, "repspace.migration", 1, "migration state", hint, _FIELDS)
    problem = None
    if state["status"] not in ("mapped", "backfilling", "done") or state["batch"] < 1:
        problem = f"status {state['status']!r}, batch {state['batch']}"
    elif state["n"] < 0 or (state["map"] is None) != (state["status"] == "done"):
        problem = f"n {state['n']}, map {state['map']!r} with status {state['status']!r}"
    for name in [state["map"], (state.get("lexical") or {}).get("dir")]:
        if name is not None and not plain_name(name):
            problem = f"{name!r} is not a name of a file of the migration directory"
    if state.get("lexical"):
        problem = problem or lexical_meta_problem(state["lexical"])
    for side in ("old", "new"):
        stats = (state.get("score_stats") or {}).get(side)
        if stats and not (
            isinstance(stats, dict)
            and all(json_kind(stats.get(k)) in ("integer", "number") for k in ("mean", "std"))
            and math.isfinite(stats["mean"])
            and math.isfinite(stats["std"])
            and stats["std"] > 0
        ):
            problem = f"score statistics {stats!r} are not a finite mean and positive std"
    if problem:
        raise RepspaceError(f"{file}: damaged migration state: {problem}{hint}")
    return state


class Migration:
    """A migration of the space ``old`` to encoder ``new``, kept in directory ``path``."""

    def __init__(self, path: Path, state: dict[str, Any], *, verify: bool = True):
        self.path = path
        self.state = state
        #: Whether the spaces and the lexical index are checksum-verified before they are read.
        self.verify = verify

    @classmethod
    def open(cls, path: str | Path, *, verify: bool = True) -> Migration:
        """The migration kept in directory ``path``; what it reads (the OLD and NEW spaces, the
        lexical index) is checksum-verified first unless ``verify`` is False."""
        path = Path(path)
        if not (path / STATE).exists():
            raise RepspaceError(f"{path}: no migration here; run `repspace migrate start`")
        return cls(path, read_state(path / STATE), verify=verify)

    # ------------------------------------------------------------ creation
    @classmethod
    @writes("path")
    def start(
        cls,
        old: str | Path,
        new_encoder: str,
        path: str | Path,
        *,
        sample: int | float = 0.1,
        method: str | None = None,
        batch: int = 1000,
        seed: int = 0,
        sentences: bool = True,
        extra_anchors: str | Path | list[str] | None = None,
        extra_limit: int | None = None,
        bridge: str | Path | None = None,
        wait: bool = False,
        verify: bool = True,
        progress: bool = False,
    ) -> Migration:
        """Fit the NEW→OLD map (anchors and, unless ``method`` is given, the method chosen as
        in :func:`plan`) and record the migration; search works at once. One writer per
        migration directory (``wait``: wait for another). OLD's shards are checksum-verified
        first unless ``verify`` is False."""
        path = Path(path)
        requested = method or "auto"
        if (path / STATE).exists():
            done = read_json(path / STATE)
            asked = done.get("requested", done.get("method"))
            same = (done.get("old"), done.get("new_encoder"), asked, done.get("batch"))
            if same == (str(Path(old).resolve()), new_encoder, requested, int(batch)):
                # this very start, recorded (a re-run after a crash)
                return cls.open(path, verify=verify)
            raise RepspaceError(
                f"{path}: another migration is already recorded here; use it or remove it"
            )
        old_space = open_space(old, verify=verify)
        chosen, a = _plan(old_space, new_encoder, task=None, sample=sample, method=method,
                          seed=seed, sentences=sentences, extra_anchors=extra_anchors,
                          extra_limit=extra_limit, bridge=bridge, curve=False, goal=GOAL,
                          progress=progress)  # fmt: skip
        m = chosen.fitted
        new_vecs, old_vecs = a.new_docs, a.old_docs
        path.mkdir(parents=True, exist_ok=True)
        m.save(path / "map")
        lexical = LexicalIndex.build(_old_texts(old_space)).save(path / LEXICAL)
        stats = score_stats(m, new_vecs, old_vecs)
        state = {
            "format": "repspace.migration",
            "old": str(Path(old).resolve()),
            "old_fingerprint": old_space.fingerprint,
            "new_encoder": new_encoder,
            "new_fingerprint": m.source_fingerprint_,
            "map": "map",
            "method": chosen.method,
            "requested": requested,
            "anchors": a.counts(),
            "batch": int(batch),
            "n": old_space.n,
            "done": 0,
            "status": "mapped",
            "score_stats": stats,
            "lexical": {**lexical, "dir": LEXICAL},
        }
        write_format_json(path / STATE, state)
        return cls.open(path, verify=verify)

    def _save(self) -> None:
        write_format_json(self.path / STATE, self.state)

    @property
    def old(self) -> Space:
        space = Space.open(self.state["old"], verify=self.verify)
        if space.n != self.state["n"] or space.fingerprint != self.state["old_fingerprint"]:
            raise RepspaceError(
                f"{self.path}: the old space {space.path} no longer matches the migration "
                f"({space.n} rows, recorded {self.state['n']}; or another fingerprint); "
                "start the migration again"
            )
        return space

    @property
    def new_path(self) -> Path:
        return self.path / "new"

    def _rows_done(self) -> int:
        man = read_manifest(self.new_path)
        return int(man["n"]) if man else 0

    def status(self) -> MigrationStatus:
        """Rows re-embedded so far, of all."""
        done = self._rows_done()
        n = int(self.state["n"])
        return MigrationStatus(
            path=str(self.path),
            old=self.state["old"],
            new_encoder=self.state["new_encoder"],
            status=self.state["status"],
            done=done,
            n=n,
            fraction=done / n if n else 1.0,
            map=self.state["map"],
        )

    # ------------------------------------------------------------ backfill
    def backfill(
        self, *, max_batches: int | None = None, progress: bool = False, wait: bool = False
    ) -> MigrationStatus:
        """Re-embed old documents with NEW, a shard of ``batch`` rows at a time (resumable);
        one backfill per migration at a time (``wait``: wait for another to finish)."""
        with writer_lock(self.path, wait=wait):
            self.state = read_state(self.path / STATE)  # as the last writer left it
            return self._backfill(max_batches, progress)

    def _backfill(self, max_batches: int | None, progress: bool) -> MigrationStatus:
        if self.state["status"] == "done":
            return self.status()
        old = self.old
        if old.fingerprint != self.state["old_fingerprint"]:
            raise RepspaceError(f"{old.path}: the old space changed since migrate start")
        enc = load_encoder(self.state["new_encoder"])
        if enc.fingerprint != self.state["new_fingerprint"]:
            raise RepspaceError(
                f"encoder {self.state['new_encoder']} has another fingerprint than at start"
            )
        texts = _old_texts(old)
        ids = old.ids
        batch = int(self.state["batch"])
        man = read_manifest(self.new_path)
        if man is None:
            writer = SpaceWriter.create(
                self.new_path,
                dim=enc.dim,
                fingerprint=enc.fingerprint,
                encoder=enc.describe(),
                columns=["id", "text"],
                params={"batch_size": enc.default_batch_size, "shard_size": batch},
                source={"kind": "migration", "old": self.state["old"]},
                corpus=(old.manifest.get("corpus")),
            )
        else:
            writer = SpaceWriter.resume(self.new_path)
        if self.state["status"] == "mapped":
            self.state["status"] = "backfilling"
            self._save()
        n = len(ids)
        done_batches = 0
        with progress_bar(
            "backfill", n, "docs", enabled=progress, completed=writer.rows_done
        ) as bar:
            while writer.rows_done < n:
                if max_batches is not None and done_batches >= max_batches:
                    break
                s = writer.rows_done
                e = min(s + batch, n)
                vecs = encode_sorted(enc, texts[s:e], enc.default_batch_size)
                writer.add_shard(ids[s:e], vecs, {"text": texts[s:e]})
                bar.advance(e - s)
                done_batches += 1
        if writer.rows_done >= n:
            writer.finish()
            self.state["status"] = "done"
            self.state["map"] = None  # retired: the NEW space serves everything
            self._save()
        return self.status()

    # ------------------------------------------------------------ search
    def search(
        self,
        query: str | list[str],
        k: int = 10,
        *,
        mode: str | None = None,
        alpha: float | None = None,
        fusion: str | None = None,
        norm: str | None = None,
        candidates: int | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(id, score)`` per query over the mixed space (see the module docstring):
        ``mode`` dense, lexical (BM25 over the old texts) or hybrid (the default when the
        migration has a lexical index; ``alpha``, ``fusion``, ``norm``, ``candidates`` as in
        :meth:`repspace.index.Index.search`)."""
        queries = [query] if isinstance(query, str) else list(query)
        meta = self.state.get("lexical")
        mode = check_mode(mode or ("hybrid" if meta else "dense"))
        if mode != "dense" and not meta:
            raise RepspaceError(
                f"{self.path}: this migration has no lexical index (started before hybrid "
                "search existed); use --mode dense"
            )
        if any(not q.strip() for q in queries):
            raise RepspaceError("the query is empty; give some text to search for")
        ids = self.old.ids
        lexical = (
            LexicalIndex.open(self.path / meta["dir"], meta, verify=self.verify) if meta else None
        )
        fuse = Fusion(
            **{
                name: value
                for name, value in (
                    ("alpha", alpha), ("fusion", fusion), ("norm", norm),
                    ("candidates", max(k, candidates or 100)),
                )
                if value is not None
            }
        )  # fmt: skip
        dense = self._dense_scores(queries) if mode != "lexical" else None
        results = []
        for qi, text in enumerate(queries):
            lex = None
            if lexical is not None and mode != "dense":
                lex = lexical.scores(lexical.query_terms(text))
            if mode == "hybrid":
                assert dense is not None and lex is not None
                row = dense[qi]
                top, vals = top_k(row[None, :], fuse.candidates)
                f = hybrid(Candidates(top[0], vals[0], lex, lambda pos, r=row: r[pos]), k, fuse)
                pos, scores = f.positions, f.fused
            else:
                row = dense[qi] if mode == "dense" else lex
                assert row is not None
                top, vals = top_k(row[None, :], k)
                pos, scores = top[0], vals[0]
                if mode == "lexical":
                    keep = scores > 0
                    pos, scores = pos[keep], scores[keep]
            results.append([(ids[int(j)], float(s)) for j, s in zip(pos, scores, strict=True)])
        return results

    def _dense_scores(self, queries: list[str]) -> np.ndarray:
        """The mixed dense score of every old row for every query: the first ``done`` rows by
        NEW, the rest by OLD with the mapped query, calibrated into NEW's cosine units."""
        enc = load_encoder(self.state["new_encoder"])
        q = enc.encode(queries, batch_size=enc.default_batch_size)
        done = self._rows_done()
        n = int(self.state["n"])
        new_docs = np.zeros((0, enc.dim), np.float32)
        if done > 0:
            new = Space.open(self.new_path, allow_building=True, verify=self.verify)
            new_docs = np.asarray(new.vectors)[:done]
        m = None
        if done < n:
            if not self.state["map"]:
                raise RepspaceError(f"{self.path}: the map is retired but rows are missing")
            m = load_map(self.path / self.state["map"])
        old_docs = np.asarray(self.old.vectors)[done:]
        return mixed_scores(q, m, new_docs, old_docs, self.state.get("score_stats"))


def score_stats(m: Map, new_docs: np.ndarray, old_docs: np.ndarray) -> dict[str, Any]:
    """The score statistics of the mixed search (see the module docstring), from paired sample
    documents: OLD-space cosines of mapped NEW vectors to OLD ones, NEW cosines among NEW ones."""
    mapped = unit_rows(m.transform(new_docs))
    return {
        "old": _cos_stats(unit_rows(old_docs), mapped),
        "new": _cos_stats(unit_rows(new_docs), unit_rows(new_docs)),
    }


def mixed_scores(
    q: np.ndarray,
    m: Map | None,
    new_docs: np.ndarray,
    old_docs: np.ndarray,
    stats: dict[str, Any] | None,
) -> np.ndarray:
    """The mixed dense score of NEW queries ``q`` against the backfilled rows (``new_docs``,
    first) and the rest (``old_docs``, through the map ``m``), calibrated into NEW's cosine
    units by ``stats`` (:func:`score_stats`)."""
    q = unit_rows(q)
    out = np.empty((len(q), len(new_docs) + len(old_docs)), np.float32)
    done = len(new_docs)
    if done:
        out[:, :done] = q @ unit_rows(new_docs).T
    if len(old_docs):
        assert m is not None
        qm = unit_rows(m.transform(q))
        stats = stats or {}
        out[:, done:] = _calibrated(qm @ unit_rows(old_docs).T, stats.get("old"), stats.get("new"))
    return out


def _cos_stats(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean and std of all cross cosines between rows of ``a`` (docs) and ``b`` (query-like)."""
    sims = b[:512] @ a[:512].T
    return {"mean": float(sims.mean()), "std": float(sims.std() or 1.0)}


def _calibrated(
    scores: np.ndarray, old: dict[str, float] | None, new: dict[str, float] | None
) -> np.ndarray:
    """OLD-part cosines brought onto NEW's scale: the same z-score under NEW's mean and std."""
    if not old or not new:
        return scores
    return (scores - old["mean"]) / old["std"] * new["std"] + new["mean"]
