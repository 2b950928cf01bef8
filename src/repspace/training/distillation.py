"""``repspace distill``: a static (model2vec-format) encoder trained to reproduce a
sentence-transformer teacher on a corpus.

The recipe is tokenlearn's (Tulkens & van Dongen, MinishLab's "tokenlearn" / potion models), the
corpus-based refinement of model2vec's data-free distillation; the idea of regressing a cheap
student on a transformer's sentence embeddings goes back to "Scalable Attentive Sentence-Pair
Modeling via Distilled Sentence Embedding" (Barkan et al., AAAI 2020):

1. **Base**: model2vec's ``distill`` forward-passes every token of the teacher's vocabulary (and
   the optional domain words) through the teacher; we take its raw token vectors (no PCA, no
   SIF: those come from the corpus below). Cached under ``<cache>/distill/base``.
2. **Targets**: the corpus is encoded with the teacher through :func:`repspace.encode`, cached
   like ``evaluate`` caches (encoder fingerprint + content hash). By default the targets are
   PCA'd to ``dims`` (centred; tokenlearn's "PCA'd teacher targets"), and the token vectors are
   projected with the same PCA so that training starts in the targets' basis. With
   ``align_to_teacher`` the targets are the raw teacher vectors and the student keeps the
   teacher's dimension, so student vectors live in the teacher's space. ``teacher_backend="onnx"``
   encodes the corpus with the same weights through ONNX Runtime (``st:`` encoders' ``onnx``
   backend: cosine 1.0 to torch, faster on short texts); the base and the targets are the same
   teacher either way.
3. **Training** (torch, CPU, seeded): the pooled student vector ``(sum_t w_t e_t) H`` (``e_t``
   unit token vectors, ``w_t`` a trainable per-token weight initialised to the token's norm times
   its SIF weight ``a / (a + p_t)``, Arora et al. 2017, with ``p_t`` the token's frequency in the
   corpus; ``H`` a shared square map, identity at the start) is fitted to the target by a cosine
   loss, averaged over the Matryoshka prefixes ``dims, dims/2, ...`` (Kusupati et al. 2022) so the
   student truncates well (PCA order makes the prefixes meaningful; not used with
   ``align_to_teacher``). ``H`` is tokenlearn's linear head, with one difference: pooling and
   ``H`` are linear, so instead of dropping the head after training (tokenlearn) we fold it into
   every token vector (``w_t e_t H``), exactly. The head moves the whole vocabulary, also the
   tokens the corpus never shows, which is what makes a corpus of tens of thousands of short
   documents enough (measured in ``bench/distill.py``'s dev runs on 5k documents: STS Spearman
   0.777 with the head, 0.738 without; title -> abstract nDCG@10 0.725 against 0.673).
   ``loss="contrastive"`` is tokenlearn's current default (in-batch InfoNCE, temperature 0.07);
   it scored lower than the cosine loss here (0.765 / 0.706), so cosine stays the default.
   Deviation from tokenlearn: its loss is computed on the head's output with mean pooling; ours
   on the folded pooled vector itself (the output is L2-normalized and compared by cosine, so
   sum and mean pooling agree). A held-out share of the corpus picks the best epoch.
4. **Re-weighting** (tokenlearn's post-training step, ``weight_model`` in tokenlearn 0.1: PCA of
   the trained table, then each row times its SIF weight ``a / (a + p_t)`` from the corpus token
   probabilities): the table is centred and SIF-weighted. Deviation: centring instead of PCA;
   the cosines are the same at full dimension (PCA is centring plus a rotation), and no rotation
   keeps the Matryoshka order of the trained basis. Measured on 50k general-English sentences:
   STS-B dev Spearman 0.835 -> 0.844, papers title -> abstract nDCG@10 unchanged; SIF alone
   (no centring) 0.837, model2vec's Zipf weights instead 0.832, centring alone breaks the model
   (0.63: the mean row is the untrained rare tokens' shared direction, which the SIF weights keep
   only on rare tokens). Not applied with ``align_to_teacher`` (the student must stay in the
   teacher's space). ``reweight=False`` leaves it out.
5. **Output**: ``w_t e_t`` folded into one float32 table, saved with model2vec's
   ``save_pretrained`` (it loads with ``StaticModel.from_pretrained`` and as ``static:DIR``),
   written to a temporary directory and renamed into place; ``README.md`` is the model card.

Several corpora (``--corpus general.jsonl --corpus mydocs.jsonl:3``): each corpus's teacher
vectors are cached on their own (adding a domain corpus to a general one encodes only the
domain), and a corpus of weight ``w`` puts each of its documents ``w`` times into an epoch on
average (whole repeats plus a fresh sample of the fraction, every epoch), like data-mixing
weights; the held-out cosine that picks the best epoch is weighted the same way.

Overfitting rare tokens: the best epoch by held-out cosine is kept. Tried on 50k general-English
sentences, none of these helped STS-B dev (0.835 without): an L2 pull of the trained token rows
towards their initial values (0.835), leaving tokens seen fewer than 5 times untrained (0.833),
weights initialised to the norms only (tokenlearn's init; 0.830). Eight epochs instead of four
lowered the held-out cosine after the fourth (0.833 -> 0.823) and STS-B dev (0.834). More text
raised the held-out cosine (0.833 at 50k, 0.860 at 231k) but hardly STS-B dev (0.844 / 0.843
with step 4): the curve in ``bench/results/distill.json``.

Domain vocabulary (``vocab=N``): the N most frequent corpus words (as the teacher's tokenizer
normalizes and pre-tokenizes them) that it splits into two or more pieces become new tokens.
Deviation from "mean of the subword vectors": model2vec's ``distill`` gives a new word the
teacher's output for that word alone, a better starting point that costs one short forward
pass per word; training then refines it like every other token.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repspace.corpus import Corpus, as_corpus
from repspace.errors import RepspaceError
from repspace.fsio import building, cache_dir, check_output, prepare_output, publish_dir, writes
from repspace.kernels import unit_rows
from repspace.progress import progress_bar
from repspace.results import Result, as_dict
from repspace.training import card

#: Fewest documents a corpus needs (and at least ``dims``, for the PCA of the targets).
MIN_DOCUMENTS = 100
#: SIF smoothing constant ``a`` (Arora et al. use 1e-3 to 1e-4).
SIF_A = 1e-3
#: Tokens per document seen in training and at inference (model2vec's default ``max_length``).
MAX_TOKENS = 512
#: Smallest Matryoshka prefix.
MIN_PREFIX = 32
CARD_START = "<!-- repspace-distill -->"
#: Losses :func:`distill` can train with.
LOSSES = ("cosine", "contrastive", "cosine+contrastive")
#: Temperature of the in-batch contrastive loss (tokenlearn's).
CONTRASTIVE_TEMPERATURE = 0.07


def matryoshka_dims(dims: int) -> list[int]:
    """``dims, dims/2, dims/4, ...`` down to :data:`MIN_PREFIX` (just ``[dims]`` when small)."""
    out = [dims]
    while out[-1] // 2 >= MIN_PREFIX:
        out.append(out[-1] // 2)
    return out


def _teacher_name(teacher: str) -> str:
    kind, sep, name = teacher.partition(":")
    if kind != "st" or not sep or not name:
        raise RepspaceError(
            f"--teacher {teacher!r}: distillation needs a sentence-transformers teacher, "
            "st:<name-or-dir> (e.g. st:all-MiniLM-L6-v2)"
        )
    return name


def domain_words(tokenizer: Any, texts: Sequence[str], n: int, min_count: int = 5) -> list[str]:
    """The ``n`` most frequent words of ``texts`` (normalized and pre-tokenized as ``tokenizer``,
    a Hugging Face fast tokenizer, does) that it splits into two or more tokens, seen at least
    ``min_count`` times; ties by the word itself."""
    if n <= 0:
        return []
    backend = tokenizer.backend_tokenizer
    counts: Counter[str] = Counter()
    for text in texts:
        if backend.normalizer is not None:
            text = backend.normalizer.normalize_str(text)
        pieces = (
            backend.pre_tokenizer.pre_tokenize_str(text)
            if backend.pre_tokenizer is not None
            else [(w, None) for w in text.split()]
        )
        counts.update(w for w, _ in pieces if len(w) >= 3 and any(c.isalpha() for c in w))
    vocab = tokenizer.get_vocab()
    chosen: list[str] = []
    for word, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if c < min_count or len(chosen) >= n:
            break
        if word in vocab:
            continue
        if len(backend.model.tokenize(word)) >= 2:
            chosen.append(word)
    return chosen


def base_model(teacher_encoder: Any, words: Sequence[str], *, progress: bool = True) -> Any:
    """model2vec's distillation of the teacher with raw token vectors (no PCA, no SIF, float32),
    plus ``words`` as extra tokens; cached under ``<cache>/distill/base``."""
    from model2vec import StaticModel

    key = hashlib.sha256(json.dumps(sorted(words)).encode()).hexdigest()[:16]
    target = cache_dir() / "distill" / "base" / f"{teacher_encoder.fingerprint[:16]}-{key}"
    if (target / "model.safetensors").is_file():
        return StaticModel.from_pretrained(str(target), force_download=False)
    from model2vec.distill import distill as m2v_distill

    model = m2v_distill(
        model_name=teacher_encoder.source,
        vocabulary=list(words) or None,
        device="cpu",
        pca_dims=None,
        sif_coefficient=None,
        quantize_to="float32",
    )
    work = prepare_output(target, overwrite=True)
    try:
        model.save_pretrained(str(work))
        publish_dir(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return model


def _batches(
    ids: list[list[int]], order: np.ndarray, batch_size: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(flat token ids, document index of each token, documents) per batch of ``order``."""
    out = []
    for s in range(0, len(order), batch_size):
        docs = order[s : s + batch_size]
        lens = np.array([len(ids[d]) for d in docs], dtype=np.int64)
        flat = np.fromiter((t for d in docs for t in ids[d]), dtype=np.int64, count=int(lens.sum()))
        seg = np.repeat(np.arange(len(docs), dtype=np.int64), lens)
        out.append((flat, seg, docs))
    return out


class _Student:
    """Unit token vectors ``e``, per-token weights ``w`` and a shared square map ``h``
    (identity at the start); a document is ``(sum_t w_t e_t) h``. Lookups give sparse gradients
    (only the rows of a batch's tokens) for a lazy Adam; ``h`` is dense. Pooling and ``h`` are
    linear, so the map folds into the token table exactly (:meth:`table`)."""

    def __init__(self, vectors: np.ndarray, weights: np.ndarray, head: bool = True) -> None:
        import torch

        norms = np.linalg.norm(vectors, axis=1)
        unit = unit_rows(vectors, norms=norms, dtype=vectors.dtype)
        self.e = torch.nn.Parameter(torch.from_numpy(unit.astype(np.float32)))
        w = (norms * weights).astype(np.float32)[:, None]
        self.w = torch.nn.Parameter(torch.from_numpy(w))
        self.h = torch.nn.Parameter(torch.eye(vectors.shape[1])) if head else None

    def pooled(self, flat: Any, seg: Any, n: int) -> Any:
        import torch
        import torch.nn.functional as F

        rows = F.embedding(flat, self.e, sparse=True) * F.embedding(flat, self.w, sparse=True)
        out = torch.zeros(n, self.e.shape[1], dtype=rows.dtype).index_add(0, seg, rows)
        return out if self.h is None else out @ self.h

    def table(self) -> np.ndarray:
        t = self.e.detach() * self.w.detach()
        if self.h is not None:
            t = t @ self.h.detach()
        return t.numpy().astype(np.float32)


def _loss(pred: Any, target: Any, prefixes: Sequence[int], kind: str) -> Any:
    """Cosine loss (``1 - cos``), or tokenlearn's in-batch contrastive loss (InfoNCE of each
    student vector against the batch's teacher vectors, temperature 0.07), or their sum;
    averaged over the Matryoshka prefixes."""
    import torch
    import torch.nn.functional as F

    losses = []
    for m in prefixes:
        p = F.normalize(pred[:, :m], dim=1, eps=1e-8)
        t = F.normalize(target[:, :m], dim=1, eps=1e-8)
        loss = 0.0
        if kind in ("cosine", "cosine+contrastive"):
            loss = loss + 1.0 - (p * t).sum(dim=1).mean()
        if kind in ("contrastive", "cosine+contrastive"):
            logits = p @ t.T / CONTRASTIVE_TEMPERATURE
            loss = loss + F.cross_entropy(logits, torch.arange(len(p)))
        losses.append(loss)
    return sum(losses) / len(losses)


def _mean_cosine(student: _Student, batches: list[Any], targets: Any, weight: Any) -> float:
    """Held-out cosine to the teacher, each document weighted by its corpus's weight."""
    import torch
    import torch.nn.functional as F

    if not batches:
        return math.nan
    total, n = 0.0, 0.0
    with torch.no_grad():
        for flat, seg, docs in batches:
            pred = student.pooled(torch.from_numpy(flat), torch.from_numpy(seg), len(docs))
            index = torch.from_numpy(docs)
            cos = F.cosine_similarity(pred, targets[index], dim=1, eps=1e-8)
            total += float((cos * weight[index]).sum())
            n += float(weight[index].sum())
    return total / n


@dataclass(kw_only=True)
class DistillRecord(Result):
    """What :func:`distill` trained; ``to_dict()`` is the record in the model card (and
    ``repspace distill --json``)."""

    format: str = field(default="repspace.distill", init=False)
    #: The teacher: spec, backend, fingerprint, dim.
    teacher: dict[str, Any]
    #: The training corpora: paths, fields, content hash, documents, weight and share of an epoch.
    corpora: list[dict[str, Any]]
    #: Documents trained on, held out, without tokens, and drawn per epoch.
    documents: dict[str, int]
    #: The student's dimension; True when it keeps the teacher's space (no PCA).
    dims: int
    align_to_teacher: bool
    #: Tokens in the vocabulary, domain words asked and added, examples.
    vocabulary: dict[str, Any]
    params: dict[str, Any]
    #: Share of the teacher vectors' variance the PCA'd targets keep (1.0 when aligned).
    targets_explained_variance: float
    #: Loss and held-out cosine to the teacher per epoch (epoch 0: before training).
    history: list[dict[str, Any]]
    #: Held-out cosine to the teacher ``before`` and ``after`` training (the best epoch).
    held_out_cosine: dict[str, float]
    #: Seconds per phase and in total.
    seconds: dict[str, float] = field(default_factory=dict)
    #: Task -> ``main_metric`` and scores of the student (``evaluate_on``); None without tasks.
    evaluation: dict[str, Any] | None = None


#: What :func:`distill` takes as ``corpus``: a path or :class:`Corpus`, optionally paired with a
#: weight, a mapping path -> weight, or a sequence of these.
CorpusSpec = str | Path | Corpus | tuple[str | Path | Corpus, float]


def _check_weight(weight: float, where: str) -> float:
    if not (isinstance(weight, int | float) and math.isfinite(weight) and weight > 0):
        raise RepspaceError(
            f"--corpus {where}: the weight must be a positive number "
            "(PATH:WEIGHT, e.g. mydocs.jsonl:0.3)"
        )
    return float(weight)


def corpus_weight(spec: str) -> tuple[str, float]:
    """The CLI's ``PATH[:WEIGHT]`` as (path, weight); a path that exists as written is whole."""
    path, sep, text = spec.rpartition(":")
    if not sep or Path(spec).exists() or "/" in text:
        return spec, 1.0
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    return path, _check_weight(weight, spec)


def training_corpora(
    corpus: CorpusSpec | Mapping[str | Path, float] | Sequence[CorpusSpec], **options: Any
) -> list[tuple[Corpus, float]]:
    """``distill``'s ``corpus`` argument as (corpus, weight) parts; an unweighted part has 1."""
    if isinstance(corpus, Mapping):
        items: list[Any] = list(corpus.items())
    elif isinstance(corpus, str | Path | Corpus) or _weighted(corpus):
        items = [corpus]
    else:
        items = list(corpus)
    parts = []
    for item in items:
        source, weight = item if _weighted(item) else (item, 1.0)
        parts.append((as_corpus(source, **options), _check_weight(weight, str(source))))
    if not parts:
        raise RepspaceError("--corpus: give at least one training corpus")
    return parts


def _onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "optimum"))


def _weighted(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and not isinstance(item[1], str | Path)


@dataclass
class _Fit:
    """What :func:`fit_student` learned."""

    table: np.ndarray
    history: list[dict[str, Any]]
    prefixes: list[int]
    explained: float
    documents: dict[str, int]


def _epoch_order(
    train_docs: np.ndarray, part_of: np.ndarray, weights: Sequence[float], rng: np.random.Generator
) -> np.ndarray:
    """One epoch's documents, shuffled: a part of weight ``w`` gives each of its training
    documents ``floor(w)`` times plus a fresh random ``w - floor(w)`` share of them."""
    order = []
    for i, w in enumerate(weights):
        docs = train_docs[part_of[train_docs] == i]
        whole, frac = divmod(w, 1.0)
        order.append(np.tile(docs, int(whole)))
        order.append(rng.choice(docs, round(frac * len(docs)), replace=False))
    out = np.concatenate(order)
    return out[rng.permutation(len(out))]


def fit_student(
    raw: np.ndarray,
    token_ids: list[list[int]],
    teacher_vectors: np.ndarray,
    *,
    part_of: np.ndarray | None = None,
    weights: Sequence[float] = (1.0,),
    dims: int,
    align_to_teacher: bool = False,
    matryoshka: bool = True,
    loss: str = "cosine",
    head: bool = True,
    train_tokens: bool = True,
    reweight: bool = True,
    epochs: int = 4,
    batch_size: int = 256,
    lr: float = 3e-3,
    holdout: float = 0.05,
    seed: int = 0,
    progress: bool = False,
) -> _Fit:
    """Steps 3 and 4 of the recipe (module docstring): targets, initial table, training,
    re-weighting of the best held-out epoch's table. ``raw`` is the base model's token table,
    ``token_ids`` the documents' tokens, ``part_of`` each document's corpus (weights as in
    :func:`distill`)."""
    import torch

    part_of = np.zeros(len(token_ids), dtype=np.int64) if part_of is None else part_of
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    keep = np.array([len(t) > 0 for t in token_ids])
    perm = rng.permutation(np.flatnonzero(keep))
    n_val = min(2000, max(1, round(holdout * len(perm))))
    val_docs, train_docs = np.sort(perm[:n_val]), perm[n_val:]

    if align_to_teacher:
        targets, init, prefixes, explained = teacher_vectors, raw, [dims], 1.0
    else:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=dims, svd_solver="full", random_state=seed)
        pca.fit(teacher_vectors[train_docs])
        targets = pca.transform(teacher_vectors).astype(np.float32)
        init = ((raw - pca.mean_) @ pca.components_.T).astype(np.float32)
        prefixes = matryoshka_dims(dims) if matryoshka else [dims]
        explained = float(np.sum(pca.explained_variance_ratio_))

    counts = np.bincount(
        np.fromiter((t for d in train_docs for t in token_ids[d]), dtype=np.int64),
        minlength=len(raw),
    ).astype(np.float64)
    prob = counts / max(counts.sum(), 1.0)
    student = _Student(init, SIF_A / (SIF_A + prob), head=head)
    y = torch.from_numpy(np.array(targets, dtype=np.float32))  # a writable copy
    val_batches = _batches(token_ids, val_docs, 1024)
    val_weight = torch.from_numpy(np.asarray(weights, dtype=np.float32)[part_of])
    if not train_tokens:
        student.e.requires_grad_(False)
    sparse = [student.e, student.w] if train_tokens else [student.w]
    optimizers = [torch.optim.SparseAdam(sparse, lr=lr)]
    if student.h is not None:
        optimizers.append(torch.optim.Adam([student.h], lr=lr))
    per_epoch = len(_epoch_order(train_docs, part_of, weights, np.random.default_rng(0)))
    total_steps = epochs * math.ceil(per_epoch / batch_size)
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(o, lambda s: max(0.0, 1.0 - s / total_steps))
        for o in optimizers
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small sparse steps: one thread is faster than two contending
    first = _mean_cosine(student, val_batches, y, val_weight)
    history: list[dict[str, Any]] = [{"epoch": 0, "loss": None, "val_cosine": first}]
    best = (first, student.table())
    try:
        with progress_bar("training", total_steps, "steps", enabled=progress) as bar:
            for epoch in range(1, epochs + 1):
                order = _epoch_order(train_docs, part_of, weights, rng)
                losses = []
                for flat, seg, docs in _batches(token_ids, order, batch_size):
                    pred = student.pooled(torch.from_numpy(flat), torch.from_numpy(seg), len(docs))
                    value = _loss(pred, y[torch.from_numpy(docs)], prefixes, loss)
                    for o in optimizers:
                        o.zero_grad()
                    value.backward()
                    for o, sch in zip(optimizers, schedulers, strict=True):
                        o.step()
                        sch.step()
                    losses.append(float(value.detach()))
                    bar.advance(1)
                val = _mean_cosine(student, val_batches, y, val_weight)
                history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_cosine": val})
                if val > best[0]:
                    best = (val, student.table())
    finally:
        torch.set_num_threads(threads)
    table = best[1]
    if reweight and not align_to_teacher:
        table = ((table - table.mean(axis=0)) * (SIF_A / (SIF_A + prob))[:, None]).astype(
            np.float32
        )
    documents = {
        "train": len(train_docs),
        "held_out": len(val_docs),
        "without_tokens": int((~keep).sum()),
        "per_epoch": per_epoch,
    }
    return _Fit(table, history, prefixes, explained, documents)


@writes("out")
def distill(
    teacher: str,
    corpus: CorpusSpec | Mapping[str | Path, float] | Sequence[CorpusSpec],
    out: str | Path,
    *,
    dims: int | None = None,
    vocab: int = 0,
    epochs: int = 4,
    batch_size: int = 256,
    lr: float = 3e-3,
    align_to_teacher: bool = False,
    matryoshka: bool = True,
    loss: str = "cosine",
    head: bool = True,
    train_tokens: bool = True,
    reweight: bool = True,
    teacher_backend: str = "auto",
    holdout: float = 0.05,
    seed: int = 0,
    evaluate_on: Sequence[str | Path] = (),
    cache: bool = True,
    wait: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    **corpus_options: Any,
) -> DistillRecord:
    """Distill ``teacher`` (``st:...``) into a static model at ``out`` trained on ``corpus``
    (see the module docstring). ``corpus`` is one or several corpora, each optionally with a
    weight (``[("general.jsonl", 1.0), ("mydocs.jsonl", 3.0)]`` or a dict): a weight ``w``
    puts each of the corpus's documents ``w`` times into an epoch on average (1: as they are;
    0.3: a fresh 30% sample per epoch; 3: each three times). ``dims`` defaults to 256 (the
    teacher's dimension with ``align_to_teacher``); ``vocab`` adds up to that many domain words;
    ``loss`` is one of :data:`LOSSES`; ``head`` trains the shared map folded into the table;
    ``train_tokens=False`` keeps the token vectors' directions (only weights and head train);
    ``reweight=False`` skips the post-training re-weighting (step 4 of the module docstring);
    ``teacher_backend`` encodes the training texts (``auto``: ONNX Runtime when installed, the
    same weights, faster on short texts here, see ``bench/distill.py``; else ``torch``);
    ``evaluate_on`` lists tasks (as for :func:`repspace.evaluate`) scored with the student and
    recorded in the model card. Returns the record written to the model card: corpora with
    hashes and weights, sizes, seconds per phase, held-out cosine to the teacher per epoch."""
    from repspace.encoders import load_encoder
    from repspace.space.cache import VectorCache

    start = time.perf_counter()
    _teacher_name(teacher)
    out = Path(out)
    check_output(out, overwrite)
    for name, value in (("--epochs", epochs), ("--batch-size", batch_size)):
        if value < 1:
            raise RepspaceError(f"{name} must be at least 1, not {value}")
    if vocab < 0:
        raise RepspaceError(f"--vocab must be 0 (no domain words) or more, not {vocab}")
    if not lr > 0:
        raise RepspaceError(f"--lr must be positive, not {lr}")
    if loss not in LOSSES:
        raise RepspaceError(f"--loss must be one of {', '.join(LOSSES)}, not {loss!r}")
    if not 0 < holdout < 0.5:
        raise RepspaceError(f"holdout must be in (0, 0.5), not {holdout}")

    parts = training_corpora(corpus, **corpus_options)
    corpora: list[dict[str, Any]] = []
    part_ids: list[list[str]] = []
    texts: list[str] = []
    for part, weight in parts:
        scan = part.scan(progress=progress)
        records = list(part)
        if not records:
            raise RepspaceError(
                f"--corpus {', '.join(map(str, part.paths))}: no documents (empty, or every "
                "record was skipped); check the file and --text-field"
            )
        part_ids.append([r.id for r in records])
        texts.extend(r.text for r in records)
        corpora.append(
            {**part.describe(), "hash": scan.hash, "documents": len(records), "weight": weight}
        )
    sizes = [c["documents"] for c in corpora]
    drawn = sum(c["weight"] * c["documents"] for c in corpora)
    for c in corpora:
        c["share"] = round(c["weight"] * c["documents"] / drawn, 4)
    part_of = np.repeat(np.arange(len(parts)), sizes)

    if teacher_backend == "auto":
        teacher_backend = "onnx" if _onnx_available() else "torch"
    enc = load_encoder(teacher, backend=teacher_backend)
    teacher_dim = enc.dim
    if dims is None:
        dims = teacher_dim if align_to_teacher else min(256, teacher_dim)
    if align_to_teacher and dims != teacher_dim:
        raise RepspaceError(
            f"--align-to-teacher keeps the teacher's {teacher_dim} dimensions; drop --dims "
            f"(got {dims})"
        )
    if not 2 <= dims <= teacher_dim:
        raise RepspaceError(
            f"--dims {dims}: must be between 2 and the teacher's dimension {teacher_dim}"
        )
    minimum = max(MIN_DOCUMENTS, dims)
    if len(texts) < minimum:
        raise RepspaceError(
            f"--corpus: {len(texts)} documents; distillation needs at least {minimum} (at least "
            f"{MIN_DOCUMENTS}, and at least --dims {dims}); tens of thousands work well"
        )
    seconds: dict[str, float] = {}

    # 1. Teacher vectors, cached per corpus like evaluate's (fingerprint + content hash), so
    # adding a corpus to a run encodes only that corpus.
    t0 = time.perf_counter()
    vc = VectorCache(cache_dir() / "distill" if cache else None, progress=progress)
    bounds = np.cumsum([0, *sizes])
    teacher_vectors = np.concatenate(
        [
            np.asarray(vc.vectors(enc, ids, texts[a:b]), dtype=np.float32)
            for ids, a, b in zip(part_ids, bounds[:-1], bounds[1:], strict=True)
        ]
    )
    seconds["teacher_encoding"] = time.perf_counter() - t0

    # 2. model2vec's token-level distillation (raw vectors), domain words added.
    t0 = time.perf_counter()
    words = domain_words(enc.model.tokenizer, texts, vocab) if vocab else []
    base = base_model(enc, words, progress=progress)
    seconds["model2vec_distill"] = time.perf_counter() - t0

    # 3-4. Targets, initial table, SIF weights, training, re-weighting.
    t0 = time.perf_counter()
    raw = np.asarray(base.embedding, dtype=np.float32)
    fit = fit_student(
        raw,
        base.tokenize(texts, max_length=MAX_TOKENS),
        teacher_vectors,
        part_of=part_of,
        weights=[w for _, w in parts],
        dims=dims,
        align_to_teacher=align_to_teacher,
        matryoshka=matryoshka,
        loss=loss,
        head=head,
        train_tokens=train_tokens,
        reweight=reweight,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        holdout=holdout,
        seed=seed,
        progress=progress,
    )
    seconds["training"] = time.perf_counter() - t0

    # 4. The model directory, written aside and renamed into place.
    from model2vec import StaticModel

    config = {
        **base.config,
        "hidden_dim": dims,
        "apply_pca": None if align_to_teacher else dims,
        "sif_coefficient": SIF_A,
        "normalize": True,
    }
    student_model = StaticModel(
        vectors=fit.table,
        tokenizer=base.tokenizer,
        config=config,
        normalize=True,
        base_model_name=teacher,
    )
    record = DistillRecord(
        teacher={
            "spec": teacher,
            "backend": teacher_backend,
            "fingerprint": enc.fingerprint,
            "dim": teacher_dim,
        },
        corpora=corpora,
        documents=fit.documents,
        dims=dims,
        align_to_teacher=align_to_teacher,
        vocabulary={
            "size": len(raw),
            "domain_words_asked": vocab,
            "domain_words_added": len(words),
            "examples": words[:20],
        },
        params={
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "loss": loss,
            "head": head,
            "train_tokens": train_tokens,
            "reweight": reweight and not align_to_teacher,
            "matryoshka_dims": fit.prefixes,
            "sif_a": SIF_A,
            "max_tokens": MAX_TOKENS,
        },
        targets_explained_variance=round(fit.explained, 4),
        history=fit.history,
        held_out_cosine={
            "before": fit.history[0]["val_cosine"],
            "after": max(h["val_cosine"] for h in fit.history),
        },
    )
    with building(out, overwrite) as work:
        student_model.save_pretrained(str(work))
        seconds["total"] = time.perf_counter() - start
        record.seconds = {k: round(v, 2) for k, v in seconds.items()}
        card.write_card(work, card_text(record))

    if evaluate_on:
        from repspace.evaluation.leaderboard import evaluate

        result = evaluate(list(evaluate_on), encoders=[f"static:{out}"], progress=progress)
        record.evaluation = {
            r["task"]: {"main_metric": r["main_metric"], **r["metrics"]} for r in result.rows
        }
        write_card(out, record)
    return record


def card_text(record: DistillRecord | Mapping[str, Any]) -> str:
    """The model card (``README.md``) of a distilled model (its record, or the record's dict)."""
    record = as_dict(record)
    t, v = record["teacher"], record["vocabulary"]
    s = record["seconds"]
    own = record["align_to_teacher"]
    rows = []
    for task, m in (record.get("evaluation") or {}).items():
        key = m.get("main_metric")
        value = m.get(key) if key else None
        shown = f"{value:.4f}" if isinstance(value, int | float) else str(value)
        rows.append([task, str(key), shown])
    return card.Card(
        library="model2vec",
        tags=["static-embeddings", "repspace", "distillation"],
        marker=CARD_START,
        title=f"Static model distilled from {t['spec']}",
        intro="Made by `repspace distill`: model2vec's token-level distillation of the teacher, "
        "then token vectors and per-token weights trained on a corpus so that the pooled vector "
        "matches the teacher's " + ("(in the teacher's own space)." if own else "(PCA'd)."),
        facts=[
            ("teacher", f"`{t['spec']}` ({t['dim']} dims, fingerprint `{t['fingerprint'][:16]}`)"),
            *(
                (
                    f"corpus {i}",
                    f"{', '.join(c['paths'])}: {c['documents']:,} documents, weight "
                    f"{c['weight']:g} ({c['share']:.0%} of an epoch), content hash "
                    f"`{c['hash'][:16]}`",
                )
                for i, c in enumerate(record["corpora"], 1)
            ),
            ("dims", f"{record['dims']}" + (" (teacher's space)" if own else "")),
            ("vocabulary", f"{v['size']:,} tokens ({v['domain_words_added']:,} domain words)"),
            (
                "training time",
                f"{s.get('total', 0):.0f} s (teacher encoding "
                f"{s.get('teacher_encoding', 0):.0f} s, model2vec distill "
                f"{s.get('model2vec_distill', 0):.0f} s, training {s.get('training', 0):.0f} s)",
            ),
            (
                "held-out cosine to teacher",
                f"{record['held_out_cosine']['before']:.4f} before training, "
                f"{record['held_out_cosine']['after']:.4f} after",
            ),
        ],
        evaluation_header=["task", "metric", "score"] if rows else [],
        evaluation_rows=rows,
        usage_code=[
            "from model2vec import StaticModel",
            'model = StaticModel.from_pretrained("PATH")',
        ],
        usage_note="or `repspace encode CORPUS --encoder static:PATH --out SPACE`.",
        record=record,
    ).text()


def write_card(model_dir: str | Path, record: DistillRecord | Mapping[str, Any]) -> None:
    """Rewrite the model card of ``model_dir`` from ``record`` (e.g. with evaluation numbers
    added); the weights are untouched."""
    model_dir = Path(model_dir)
    if not (model_dir / "model.safetensors").is_file():
        raise RepspaceError(f"{model_dir}: not a model directory made by repspace distill")
    card.write_card(model_dir, card_text(record))


def read_card(model_dir: str | Path) -> dict[str, Any]:
    """The record in a distilled model's card."""
    return card.read_card(model_dir, CARD_START, "distill")


__all__ = [
    "LOSSES",
    "MIN_DOCUMENTS",
    "DistillRecord",
    "base_model",
    "card_text",
    "distill",
    "domain_words",
    "matryoshka_dims",
    "read_card",
    "write_card",
]
