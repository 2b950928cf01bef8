"""repspace distill: a static student trained to match a sentence-transformer teacher.

Most tests use a tiny sentence-transformer built here (a 2-layer BERT with a 200-word
vocabulary, random weights, seeded): the real pipeline (sentence-transformers, model2vec's
distill, training) in seconds. The real MiniLM is used where its size matters (bad --dims)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import WORDS, write_jsonl
from repspace.cli import app
from repspace.errors import RepspaceError

EXTRA = [
    "alpha", "beta", "gamma", "delta", "river", "mountain", "city", "music", "paper", "result",
    "train", "test", "fast", "slow", "large", "small", "good", "bad", "new", "old",
]  # fmt: skip
#: Small batches: a few hundred documents still give enough steps.
FAST = {"batch_size": 16, "lr": 1e-2, "progress": False, "teacher_backend": "torch"}
SUB = ["##s", "##ing", "##ed", "##er", "##ly", "##tion", "##al", "##ic", "##a", "##e"]


def _tiny_teacher(path: Path) -> Path:
    """A 2-layer BERT sentence-transformer (mean pooling, normalized) with a small vocabulary."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    letters = list("abcdefghijklmnopqrstuvwxyz") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *EXTRA, *SUB, *letters]
    vocab = list(dict.fromkeys(vocab))
    raw = path / "raw"
    raw.mkdir(parents=True)
    (raw / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(str(raw / "vocab.txt"), do_lower_case=True).save_pretrained(str(raw))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(raw))
    word = models.Transformer(str(raw), max_seq_length=128)
    pooling = models.Pooling(word.get_word_embedding_dimension(), "mean")
    model = SentenceTransformer(modules=[word, pooling, models.Normalize()], device="cpu")
    out = path / "teacher"
    model.save(str(out))
    return out


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"st:{_tiny_teacher(tmp_path_factory.mktemp('teacher'))}"


def _corpus(path: Path, n: int = 300, seed: int = 0) -> Path:
    rng = random.Random(seed)
    words = [*WORDS, *EXTRA, "vectorization", "tokenizers"]
    rows = [
        {"id": f"d{i}", "text": " ".join(rng.choices(words, k=rng.randint(3, 20)))}
        for i in range(n)
    ]
    return write_jsonl(path, rows)


def test_distill_trains_loads_and_records(teacher: str, tmp_path: Path) -> None:
    from model2vec import StaticModel

    import repspace
    from repspace.encoders import load_encoder
    from repspace.training.distillation import read_card

    corpus = _corpus(tmp_path / "docs.jsonl")
    out = tmp_path / "student"
    record = repspace.distill(teacher, corpus, out, dims=16, epochs=3, **FAST)

    # Training moves the held-out student vectors towards the teacher's, and the loss falls.
    cos = record.held_out_cosine
    assert cos["after"] > cos["before"] + 0.05
    losses = [h["loss"] for h in record.history[1:]]
    assert losses[-1] < losses[0]
    assert set(record.seconds) >= {"teacher_encoding", "model2vec_distill", "training"}

    # Loads in model2vec and as a repspace encoder, with the asked dimension.
    model = StaticModel.from_pretrained(str(out))
    assert model.dim == 16
    enc = load_encoder(f"static:{out}")
    vecs = enc.encode(["vector space model", "cosine retrieval"])
    assert vecs.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(vecs, model.encode(["vector space model", "cosine retrieval"]))

    # The model card records teacher, corpus hash, dims, vocabulary and times.
    card = read_card(out)
    assert card == json.loads(json.dumps(record.to_dict()))
    assert card["teacher"]["spec"] == teacher
    assert card["dims"] == 16
    assert len(card["corpora"][0]["hash"]) == 64 and card["corpora"][0]["weight"] == 1.0
    assert card["vocabulary"]["size"] == len(model.tokens)
    assert "Static model distilled from" in (out / "README.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_teacher_vectors_are_cached(teacher: str, tmp_path: Path) -> None:
    import repspace

    corpus = _corpus(tmp_path / "docs.jsonl", seed=3)
    first = repspace.distill(teacher, corpus, tmp_path / "a", dims=8, epochs=1, **FAST)
    second = repspace.distill(teacher, corpus, tmp_path / "b", dims=8, epochs=1, **FAST)
    assert second.seconds["teacher_encoding"] < first.seconds["teacher_encoding"]
    assert second.seconds["model2vec_distill"] < first.seconds["model2vec_distill"] + 1


def test_corpus_weights_parse_and_reject_bad_ones(tmp_path: Path) -> None:
    from repspace.training.distillation import corpus_weight, training_corpora

    assert corpus_weight("docs.jsonl") == ("docs.jsonl", 1.0)
    assert corpus_weight("docs.jsonl:0.3") == ("docs.jsonl", 0.3)
    assert corpus_weight("a:b/docs.jsonl") == ("a:b/docs.jsonl", 1.0)  # a path, not a weight
    odd = tmp_path / "odd:2"
    odd.write_text("")
    assert corpus_weight(str(odd)) == (str(odd), 1.0)  # an existing path is taken whole
    for bad in ("docs.jsonl:abc", "docs.jsonl:0", "docs.jsonl:-1", "docs.jsonl:nan"):
        with pytest.raises(RepspaceError, match="weight must be a positive number"):
            corpus_weight(bad)
    parts = training_corpora({"a.jsonl": 2.0, "b.jsonl": 0.5})
    assert [(list(map(str, c.paths)), w) for c, w in parts] == [
        (["a.jsonl"], 2.0),
        (["b.jsonl"], 0.5),
    ]
    assert [w for _, w in training_corpora(["a.jsonl", ("b.jsonl", 3)])] == [1.0, 3.0]
    with pytest.raises(RepspaceError, match="weight must be a positive number"):
        training_corpora([("a.jsonl", 0.0)])


def test_epoch_draws_follow_the_weights() -> None:
    from repspace.training.distillation import _epoch_order

    part_of = np.repeat([0, 1], [100, 40])
    docs = np.arange(140)
    rng = np.random.default_rng(0)
    for weights, expected in (((1.0, 1.0), (100, 40)), ((0.3, 2.5), (30, 100))):
        order = _epoch_order(docs, part_of, weights, rng)
        assert np.bincount(part_of[order]).tolist() == list(expected)
    order = _epoch_order(docs, part_of, (1.0, 2.0), rng)
    assert np.bincount(order[part_of[order] == 1]).max() == 2  # each domain document twice
    assert sorted(set(order[part_of[order] == 0].tolist())) == list(range(100))


def test_several_weighted_corpora_train_and_reuse_the_cache(teacher: str, tmp_path: Path) -> None:
    import repspace
    from repspace.fsio import cache_dir
    from repspace.training.distillation import read_card

    general = _corpus(tmp_path / "general.jsonl", n=300, seed=5)
    domain = _corpus(tmp_path / "domain.jsonl", n=120, seed=6)
    repspace.distill(teacher, general, tmp_path / "a", dims=8, epochs=1, **FAST)
    spaces = cache_dir() / "distill" / "spaces"
    before = {p.name for p in spaces.iterdir()}
    rec = repspace.distill(
        teacher, [general, (domain, 2.5)], tmp_path / "b", dims=8, epochs=1, **FAST
    )
    # The general corpus's teacher vectors came from the cache: one new space, the domain's.
    assert len({p.name for p in spaces.iterdir() if not p.name.startswith(".")} - before) == 1
    assert [(c["documents"], c["weight"]) for c in rec.corpora] == [(300, 1.0), (120, 2.5)]
    assert [c["share"] for c in rec.corpora] == [0.5, 0.5]
    assert rec.documents["per_epoch"] > rec.documents["train"]  # domain documents drawn 2.5x
    card = (tmp_path / "b" / "README.md").read_text()
    assert "weight 2.5 (50% of an epoch)" in card and rec.corpora[1]["hash"][:16] in card
    assert read_card(tmp_path / "b")["corpora"][1]["paths"] == [str(domain)]


def test_same_seed_same_model_other_seed_other_model(teacher: str, tmp_path: Path) -> None:
    import repspace

    corpus = _corpus(tmp_path / "docs.jsonl", seed=1)
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        repspace.distill(teacher, corpus, tmp_path / name, dims=8, epochs=2, seed=seed, **FAST)
    weights = {n: (tmp_path / n / "model.safetensors").read_bytes() for n in "abc"}
    assert weights["a"] == weights["b"]
    assert weights["a"] != weights["c"]


def test_align_to_teacher_outputs_the_teachers_space(teacher: str, tmp_path: Path) -> None:
    import repspace
    from repspace.encoders import load_encoder

    corpus = _corpus(tmp_path / "docs.jsonl", seed=2)
    out = tmp_path / "aligned"
    record = repspace.distill(teacher, corpus, out, align_to_teacher=True, epochs=3, **FAST)
    assert record.dims == 32 and record.align_to_teacher
    texts = ["vector space model retrieval", "river mountain city music", "cosine matrix token"]
    student = load_encoder(f"static:{out}").encode(texts)
    target = load_encoder(teacher).encode(texts)
    cos = np.sum(student * target, axis=1)  # both unit-normalized, same space
    assert cos.mean() > 0.5
    assert record.held_out_cosine["after"] > record.held_out_cosine["before"]


def test_domain_vocabulary_adds_split_words(teacher: str, tmp_path: Path) -> None:
    import repspace
    from repspace.encoders import load_encoder
    from repspace.training.distillation import domain_words

    texts = ["vectorization tokenizers vector"] * 10 + ["vector space"] * 10
    words = domain_words(load_encoder(teacher).model.tokenizer, texts, 5)
    assert words == ["tokenizers", "vectorization"]  # frequent, split into pieces; not "vector"
    corpus = _corpus(tmp_path / "docs.jsonl")
    plain = repspace.distill(teacher, corpus, tmp_path / "p", dims=8, epochs=1, **FAST)
    record = repspace.distill(teacher, corpus, tmp_path / "v", dims=8, epochs=1, vocab=10, **FAST)
    added = record.vocabulary["domain_words_added"]
    assert added >= 1
    assert record.vocabulary["size"] == plain.vocabulary["size"] + added


def test_head_folds_into_the_token_table() -> None:
    """The pooled vector with the shared map equals the sum of the folded table's rows, so the
    saved model2vec table reproduces what training optimised."""
    import torch

    from repspace.training.distillation import _batches, _Student

    rng = np.random.default_rng(0)
    student = _Student(rng.normal(size=(50, 8)).astype(np.float32), rng.random(50), head=True)
    with torch.no_grad():
        student.h.copy_(torch.from_numpy(rng.normal(size=(8, 8)).astype(np.float32)))
    ids = [[1, 2, 3], [4, 4, 9, 10], [49]]
    flat, seg, docs = _batches(ids, np.arange(3), 8)[0]
    with torch.no_grad():
        pooled = student.pooled(torch.from_numpy(flat), torch.from_numpy(seg), len(docs)).numpy()
    table = student.table()
    expected = np.stack([table[d].sum(axis=0) for d in ids])
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["contrastive", "cosine+contrastive"])
def test_other_losses_and_no_head_train(teacher: str, tmp_path: Path, loss: str) -> None:
    import repspace

    corpus = _corpus(tmp_path / "docs.jsonl", seed=4)
    rec = repspace.distill(
        teacher, corpus, tmp_path / "m", dims=8, epochs=2, loss=loss, head=False, **FAST
    )
    assert rec.params["loss"] == loss and rec.params["head"] is False
    assert rec.held_out_cosine["after"] > rec.held_out_cosine["before"]


def test_reweighting_centres_and_sif_weights_the_table() -> None:
    """Step 4 of the recipe: the trained table is centred, then each row is scaled by its SIF
    weight (1 for a token the corpus never shows; small for frequent ones); not when aligned."""
    from repspace.training.distillation import SIF_A, fit_student

    rng = np.random.default_rng(0)
    raw = rng.normal(size=(60, 12)).astype(np.float32)
    ids = [list(rng.integers(1, 40, size=rng.integers(3, 9))) + [5] * 4 for _ in range(300)]
    teacher = rng.normal(size=(300, 12)).astype(np.float32)
    common = {"dims": 8, "epochs": 1, "batch_size": 32}
    plain = fit_student(raw, ids, teacher, reweight=False, **common).table
    table = fit_student(raw, ids, teacher, **common).table
    centred = plain - plain.mean(axis=0)
    np.testing.assert_allclose(table[50], centred[50], rtol=1e-5, atol=1e-6)  # unseen: weight 1
    ratio = np.linalg.norm(table[5]) / np.linalg.norm(centred[5])
    assert ratio < 20 * SIF_A  # token 5 is in every document: p > 0.3, weight < 1e-3 / 0.3
    options = {"dims": 12, "align_to_teacher": True, "epochs": 1, "batch_size": 32}
    aligned = fit_student(raw, ids, teacher, **options)
    plain_aligned = fit_student(raw, ids, teacher, reweight=False, **options)
    np.testing.assert_array_equal(aligned.table, plain_aligned.table)


def test_matryoshka_prefixes() -> None:
    from repspace.training.distillation import matryoshka_dims

    assert matryoshka_dims(256) == [256, 128, 64, 32]
    assert matryoshka_dims(16) == [16]


@pytest.mark.parametrize(
    ("teacher_spec", "n_docs", "options", "message"),
    [
        ("hash:64", 300, {}, "needs a sentence-transformers teacher"),
        ("static:/nowhere", 300, {}, "needs a sentence-transformers teacher"),
        ("TINY", 20, {}, "needs at least 100"),
        ("TINY", 300, {"dims": 64}, "between 2 and the teacher's dimension 32"),
        ("TINY", 300, {"align_to_teacher": True, "dims": 16}, "keeps the teacher's 32"),
        ("TINY", 300, {"epochs": 0}, "--epochs must be at least 1"),
        ("TINY", 300, {"loss": "mse"}, "--loss must be one of cosine, contrastive"),
        ("TINY", 300, {"teacher_backend": "tf"}, "--backend must be one of"),
        ("TINY", 300, {"corpus_extra": ("EMPTY", 1.0)}, "no documents \\(empty, or every"),
        ("TINY", 300, {"corpus_extra": ("SAME", -2.0)}, "weight must be a positive number"),
    ],
)
def test_bad_input(
    teacher: str,
    tmp_path: Path,
    teacher_spec: str,
    n_docs: int,
    options: dict,
    message: str,
) -> None:
    import repspace

    corpus: object = _corpus(tmp_path / "docs.jsonl", n=n_docs)
    spec = teacher if teacher_spec == "TINY" else teacher_spec
    if "corpus_extra" in options:
        which, weight = options.pop("corpus_extra")
        other = write_jsonl(tmp_path / "skipped.jsonl", [{"id": "x", "body": "no text field"}])
        corpus = [corpus, (other if which == "EMPTY" else corpus, weight)]
        options["on_error"] = "skip"
    with pytest.raises(RepspaceError, match=message):
        repspace.distill(spec, corpus, tmp_path / "out", progress=False, **options)
    assert not (tmp_path / "out").exists()


def test_dims_larger_than_minilm(minilm, tmp_path: Path) -> None:
    import repspace

    corpus = _corpus(tmp_path / "docs.jsonl")
    with pytest.raises(RepspaceError, match="teacher's dimension 384"):
        repspace.distill("st:all-MiniLM-L6-v2", corpus, tmp_path / "out", dims=512)


def test_empty_corpus_and_existing_out(teacher: str, tmp_path: Path) -> None:
    import repspace

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(RepspaceError, match="no documents \\(empty, or every record"):
        repspace.distill(teacher, empty, tmp_path / "out", progress=False)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("x")
    with pytest.raises(RepspaceError, match="not empty; pass --overwrite"):
        repspace.distill(teacher, _corpus(tmp_path / "d.jsonl"), busy, progress=False)


def test_cli(teacher: str, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "docs.jsonl")
    sts = write_jsonl(
        tmp_path / "sts.jsonl",
        [
            {"s1": "vector space", "s2": "vector space model", "score": 4.5},
            {"s1": "river city", "s2": "cosine matrix", "score": 0.5},
            {"s1": "music paper", "s2": "music result", "score": 3.0},
        ],
    )
    runner = CliRunner()
    args = ["distill", "--teacher", teacher, "--corpus", str(corpus), "--out"]
    res = runner.invoke(
        app, [*args, str(tmp_path / "m"), "--dims", "8", "--epochs", "1", "--eval", str(sts)]
    )
    assert res.exit_code == 0, res.output
    assert "held-out cosine to the teacher" in res.output
    assert "sts: spearman" in res.output
    card = json.loads(
        (tmp_path / "m" / "README.md").read_text().split("```json\n")[1].split("\n```")[0]
    )
    assert card["evaluation"]["sts"]["main_metric"] == "spearman"

    res = runner.invoke(
        app, [*args, str(tmp_path / "n"), "--json", "--epochs", "1", "--no-reweight"]
    )
    assert res.exit_code == 0, res.output
    record = json.loads(res.output)
    assert record["dims"] == 32  # min(256, teacher dim)
    assert record["params"]["reweight"] is False


def test_cli_bad_teacher_is_one_line_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    corpus = _corpus(tmp_path / "docs.jsonl")
    res = subprocess.run(
        [sys.executable, "-m", "repspace", "distill", "--teacher", "hash:64", "--corpus",
         str(corpus), "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "st:<name-or-dir>" in res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "repspace", "distill", "--teacher", "st:x", "--corpus",
         f"{corpus}:lots", "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0
    assert f"--corpus {corpus}:lots: the weight must be a positive number" in res.stderr
