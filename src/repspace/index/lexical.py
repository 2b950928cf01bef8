"""The lexical side of an index: BM25 over the rows' texts, through bm25s.

BM25 is Lucene's variant (Kamphuis et al. 2020, "Which BM25 Do You Mean?"): idf
``log(1 + (N - df + 0.5) / (df + 0.5))``, term weight ``tf / (tf + k1 (1 - b + b |d| / avgdl))``,
``k1 = 1.2``, ``b = 0.75`` (Lucene's and Elasticsearch's defaults), scored by bm25s (Lù 2024),
which precomputes every (document, term) weight in a sparse matrix: a query's scores for every
document are one sparse column sum, which is what fusion, filters and "explain this hit" need.
Document lengths are exact (Lucene rounds them to one byte), so scores equal a plain BM25 formula.
``docs/architecture.md`` says why bm25s and not tantivy (measured in ``bench/hybrid.py``).

Tokenisation (:class:`Analyzer`, fixed at build time and recorded in the index manifest):
words of two or more letters, digits or underscores (the regular expression ``\\b\\w\\w+\\b`` of
scikit-learn and bm25s); identifiers also yield their parts, split at underscores and ASCII case
changes, the whole word kept (``file_digest`` -> ``file_digest``, ``file``, ``digest``;
``HTTPServer`` -> ``HTTPServer``, ``HTTP``, ``Server``: Elasticsearch's ``word_delimiter_graph``
with ``preserve_original``, without its split at digits, so ``sha256`` stays one word;
``split_identifiers=False`` turns it off); lower-cased (unless ``lowercase=False``); English
stop words removed (bm25s's list; ``stopwords="none"`` keeps them); then the Snowball English
stemmer of PyStemmer (``"porter"`` for Porter's original, ``"none"`` for none). The splitting
was chosen by measurement: on the stdlib name -> docstring task it lifts BM25's nDCG@10 from
0.294 to 0.357 and leaves the prose tasks (papers, SciFact) within +0.001 (``bench/hybrid.py``).

On disk (one directory per index generation): bm25s's own files (``*.index.npy`` sparse matrix,
``vocab.index.json``, ``params.index.json``; no pickle) and the token ids of every document
(``tokens.npy``, ``offsets.npy``), so adding or deleting documents re-weights without
re-tokenising the corpus.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from repspace.errors import RepspaceError, one_line
from repspace.fsio import atomic_save_npy, first_mismatch, fsync_dir, plain_name, sha256_file
from repspace.progress import progress_bar

STOPWORDS = ("english", "none")
STEMMERS = ("english", "porter", "none")
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
#: The parts of an identifier: upper-case runs, capitalised or lower-case words, digit runs.
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_IDENTIFIER = re.compile(r"_|[a-z][A-Z]|[A-Z][A-Z][a-z]")
#: Lucene's BM25 defaults.
K1, B = 1.2, 0.75
_TOKENS, _OFFSETS = "tokens.npy", "offsets.npy"


@dataclass(frozen=True)
class Analyzer:
    """How a text becomes BM25 terms (see the module docstring)."""

    lowercase: bool = True
    stopwords: str = "english"
    stemmer: str = "english"
    split_identifiers: bool = True
    pattern: str = TOKEN_PATTERN

    def __post_init__(self) -> None:
        if self.stopwords not in STOPWORDS:
            raise RepspaceError(
                f"--stopwords {self.stopwords!r}: use one of {', '.join(STOPWORDS)}"
            )
        if self.stemmer not in STEMMERS:
            raise RepspaceError(f"--stemmer {self.stemmer!r}: use one of {', '.join(STEMMERS)}")

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    @cached_property
    def _stop(self) -> frozenset[str]:
        if self.stopwords == "none":
            return frozenset()
        from bm25s.stopwords import STOPWORDS_EN

        return frozenset(STOPWORDS_EN)

    @cached_property
    def _stem(self) -> Any:
        if self.stemmer == "none":
            return None
        import Stemmer

        return Stemmer.Stemmer(self.stemmer)

    def words(self, text: str) -> list[str]:
        """The words of ``text`` as written (before case folding, stop words and stemming)."""
        return self._regex.findall(text)

    def terms(self, text: str) -> list[str]:
        """The BM25 terms of ``text``, in order, repeated as often as they occur."""
        return [t for terms in self.word_terms(self.words(text)) for t in terms]

    def word_terms(self, words: Sequence[str]) -> list[list[str]]:
        """The terms of each word (a text's terms are its words' terms, in order)."""
        parts = [_split(w) if self.split_identifiers else [w] for w in words]
        flat = [p.lower() if self.lowercase else p for ps in parts for p in ps]
        keep = [p not in self._stop for p in flat]
        kept = [p for p, k in zip(flat, keep, strict=True) if k]
        stems = iter(self._stem.stemWords(kept) if self._stem is not None and kept else kept)
        out, at = [], 0
        for ps in parts:
            out.append([next(stems) for k in keep[at : at + len(ps)] if k])
            at += len(ps)
        return out

    def matched(self, text: str, terms: Iterable[str]) -> list[str]:
        """The distinct words of ``text``, as written, whose term is one of ``terms`` (what a
        UI highlights)."""
        wanted = set(terms)
        return [
            w for w in dict.fromkeys(self.words(text)) if not wanted.isdisjoint(_terms(self, w))
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Analyzer:
        fields = ("lowercase", "stopwords", "stemmer", "split_identifiers", "pattern")
        return cls(**{k: d[k] for k in fields if k in d})


@functools.lru_cache(maxsize=1 << 16)
def _terms(analyzer: Analyzer, word: str) -> frozenset[str]:
    """The terms of one word (cached: highlighting analyses the same words again and again)."""
    return frozenset(analyzer.terms(word))


def _split(word: str) -> list[str]:
    """``word`` and, for an identifier, its parts of two or more characters."""
    if not _IDENTIFIER.search(word):
        return [word]
    parts = [p for chunk in word.split("_") for p in _PARTS.findall(chunk)]
    return [word, *(p for p in parts if len(p) > 1 and p != word)]


@dataclass
class LexicalIndex:
    """BM25 over ``n`` documents, row ``i`` being the index's row ``i`` (build with
    :meth:`build`; :meth:`added` and :meth:`kept` follow the dense index's changes)."""

    analyzer: Analyzer
    vocab: dict[str, int]
    tokens: np.ndarray  # int32 term ids of every document, concatenated
    offsets: np.ndarray  # int64, n + 1: document i is tokens[offsets[i]:offsets[i + 1]]
    k1: float = K1
    b: float = B
    _bm25: Any = field(default=None, repr=False)

    # ------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        texts: Sequence[str | None],
        analyzer: Analyzer | None = None,
        *,
        k1: float = K1,
        b: float = B,
        progress: bool = False,
    ) -> LexicalIndex:
        """Tokenise ``texts`` (None counts as an empty text) and weight them."""
        if not (k1 >= 0 and 0 <= b <= 1):
            raise RepspaceError(f"BM25 needs k1 >= 0 and 0 <= b <= 1 (k1={k1}, b={b})")
        empty = cls(analyzer or Analyzer(), {}, np.empty(0, np.int32), np.zeros(1, np.int64), k1, b)
        return empty.added(texts, progress=progress)

    def _tokenize(self, texts: Sequence[str | None], progress: bool) -> tuple[list, dict]:
        vocab = dict(self.vocab)
        ids: list[list[int]] = []
        known: dict[str, list[int]] = {}  # word -> its term ids (a text's terms are its words')
        with progress_bar("lexical index", len(texts), "docs", enabled=progress) as bar:
            for start in range(0, len(texts), 10_000):
                words = [self.analyzer.words(t or "") for t in texts[start : start + 10_000]]
                new = list({w: None for doc in words for w in doc if w not in known})
                for word, terms in zip(new, self.analyzer.word_terms(new), strict=True):
                    known[word] = [vocab.setdefault(t, len(vocab)) for t in terms]
                ids += [[i for w in doc for i in known[w]] for doc in words]
                bar.advance(len(words))
        return ids, vocab

    def added(self, texts: Sequence[str | None], *, progress: bool = False) -> LexicalIndex:
        """A new index with ``texts`` appended as documents ``n, n + 1, ...``."""
        ids, vocab = self._tokenize(texts, progress)
        lengths = np.fromiter((len(t) for t in ids), np.int64, len(ids))
        flat = np.fromiter((t for doc in ids for t in doc), np.int32, int(lengths.sum()))
        tokens = np.concatenate([self.tokens, flat])
        offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(lengths)])
        return LexicalIndex(self.analyzer, vocab, tokens, offsets, self.k1, self.b)

    def kept(self, keep: np.ndarray) -> LexicalIndex:
        """A new index without the documents where ``keep`` is False."""
        keep = np.asarray(keep, bool)
        if len(keep) != self.n:
            raise ValueError(f"keep mask of {len(keep)} for {self.n} documents")
        lengths = np.diff(self.offsets)
        tokens = self.tokens[np.repeat(keep, lengths)]
        offsets = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int64)
        return LexicalIndex(self.analyzer, dict(self.vocab), tokens, offsets, self.k1, self.b)

    @property
    def n(self) -> int:
        return len(self.offsets) - 1

    @property
    def bm25(self) -> Any | None:
        """The bm25s model, weighted on first use; None while no document has a term."""
        if self._bm25 is None and self.tokens.size:
            import bm25s

            model = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            docs = [d.tolist() for d in np.split(self.tokens, self.offsets[1:-1])]
            model.index((docs, self.vocab), create_empty_token=False, show_progress=False)
            self._bm25 = model
        return self._bm25

    # ------------------------------------------------------------ scoring
    def scores(self, terms: Sequence[str], mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 of every document for the query ``terms`` (float32, ``n``); documents where
        ``mask`` is False score 0."""
        model = self.bm25
        ids = [self.vocab[t] for t in terms if t in self.vocab]
        if not ids or model is None:
            return np.zeros(self.n, np.float32)
        out = np.asarray(model.get_scores_from_ids(ids), np.float32)
        if mask is not None:
            out = np.where(mask, out, np.float32(0))
        return out

    def query_terms(self, text: str) -> list[str]:
        """The terms of a query that occur in the index (the others cannot score), repeats
        kept: a term twice in the query counts twice, as in Anserini's bag-of-words queries."""
        return [t for t in self.analyzer.terms(text) if t in self.vocab]

    # ------------------------------------------------------------ disk
    def save(self, path: Path) -> dict[str, Any]:
        """Write the index into the directory ``path`` (replaced if a crashed write left it;
        every file fsynced); returns :meth:`describe` with each file's sha256, the record
        :meth:`open` takes."""
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        if self.bm25 is not None:
            self.bm25.save(str(path), show_progress=False)
        atomic_save_npy(path / _TOKENS, self.tokens)
        atomic_save_npy(path / _OFFSETS, self.offsets)
        hashes = {}
        for f in sorted(path.iterdir()):
            with open(f, "rb+") as fh:  # bm25s writes without fsync
                os.fsync(fh.fileno())
            hashes[f.name] = sha256_file(f)
        fsync_dir(path)
        return {**self.describe(), "sha256": hashes}

    @classmethod
    def open(cls, path: Path, meta: dict[str, Any], *, verify: bool = True) -> LexicalIndex:
        """Open the directory ``path`` written by :meth:`save` (``meta``: what it returned);
        ``verify`` checks every file against its sha256 (once per process:
        :func:`~repspace.fsio.sha256_matches`)."""
        import bm25s

        digests = meta["sha256"]
        for name in digests:
            if not (path / name).is_file():
                raise RepspaceError(f"{path / name}: lexical index file missing; rebuild the index")
        unlisted = sorted(f.name for f in path.iterdir() if f.name not in digests)
        if unlisted:  # save() records every file it writes
            raise RepspaceError(
                f"{path / unlisted[0]}: lexical index file without a recorded sha256 (the "
                "manifest was edited or damaged); rebuild the index"
            )
        bad = first_mismatch([(path / n, str(d)) for n, d in digests.items()]) if verify else None
        if bad is not None:
            raise RepspaceError(
                f"{bad}: checksum mismatch, the file is corrupt or changed after it was "
                "written; rebuild the index (or pass --no-verify to read it anyway)"
            )
        try:
            tokens = np.load(path / _TOKENS, allow_pickle=False)
            offsets = np.load(path / _OFFSETS, allow_pickle=False)
            model, vocab = None, {}  # no document had a term
            if (path / "params.index.json").is_file():
                model = bm25s.BM25.load(str(path), mmap=True, allow_pickle=False)
                vocab = dict(model.vocab_dict)
        except Exception as e:  # the libraries' own errors for an unreadable file
            raise RepspaceError(
                f"{path}: cannot read the lexical index ({e}); rebuild it"
            ) from None
        bm = meta["bm25"]
        index = cls(Analyzer.from_dict(meta["analyzer"]), vocab, tokens, offsets, bm["k1"], bm["b"])
        index._bm25 = model
        return index

    def describe(self) -> dict[str, Any]:
        """What the index manifest records of the lexical side."""
        import bm25s

        return {
            "analyzer": self.analyzer.to_dict(),
            "bm25": {"variant": "lucene", "k1": self.k1, "b": self.b, "bm25s": bm25s.__version__},
            "n": self.n,
            "vocabulary": len(self.vocab),
        }


def lexical_meta_problem(meta: Any) -> str | None:
    """What is wrong with the record of a lexical index in a manifest (what :meth:`save`
    returned, plus ``dir``), or None: what :meth:`LexicalIndex.open` relies on."""
    if not isinstance(meta, dict) or not {"dir", "sha256", "bm25", "analyzer"} <= meta.keys():
        return "the lexical part lacks dir, sha256, bm25 or analyzer"
    sha, bm25 = meta["sha256"], meta["bm25"]
    if not isinstance(sha, dict) or not all(isinstance(v, str) for v in sha.values()):
        return "the lexical checksums are not file names and strings"
    names = [meta["dir"], *sha]
    if not all(plain_name(n) for n in names):
        return "a lexical file name is not a name of a file of the directory"
    numbers = [bm25.get(k) if isinstance(bm25, dict) else None for k in ("k1", "b")]
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in numbers
    ):
        return f"BM25 parameters {numbers} are not numbers"
    if not isinstance(meta["analyzer"], dict):
        return "the lexical analyzer is not an object"
    try:
        Analyzer.from_dict(meta["analyzer"])._regex  # noqa: B018 (compiles the pattern)
    except (TypeError, re.error) as e:
        return f"the lexical analyzer is invalid ({one_line(e)})"
    return None
