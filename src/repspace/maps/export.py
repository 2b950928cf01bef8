"""Export an encoder with a fitted map as one sentence-transformers model directory.

The map becomes built-in ``Dense`` modules appended after the model's own modules (identity
activation for linear maps; the adaptor's skip connection through ReLU, see
:meth:`repspace.maps.matryoshka.MatryoshkaAdaptor.affine_layers`), so plain
``SentenceTransformer(DIR)`` loads it offline, without ``trust_remote_code``, and reproduces
``map.transform(encoder.encode(texts))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from repspace.errors import RepspaceError
from repspace.fsio import building, check_output, writes
from repspace.maps.base import Map, load_map


@writes("out")
def export_sentence_transformers(
    encoder: str | Any,
    map_or_dir: Map | str | Path,
    out: str | Path,
    *,
    force: bool = False,
    wait: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write ``encoder`` (an ``st:`` spec or encoder) followed by the map to directory ``out``
    (built beside it and swapped into place; a non-empty ``out`` needs ``overwrite``)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense

    from repspace.encoders import load_encoder
    from repspace.encoders.st import SentenceTransformerEncoder

    enc = load_encoder(encoder)
    if not isinstance(enc, SentenceTransformerEncoder) or enc.backend != "torch":
        raise RepspaceError(
            f"export st needs a sentence-transformers encoder on torch (st:...), not {enc.spec}"
        )
    m = map_or_dir if isinstance(map_or_dir, Map) else load_map(map_or_dir)
    m.check_space(enc.fingerprint, f"encoder {enc.spec}", force)
    if m.input_dim_ != enc.dim:
        raise RepspaceError(
            f"the map expects {m.input_dim_}-dim vectors, {enc.spec} gives {enc.dim}"
        )
    out = Path(out)
    check_output(out, overwrite)
    layers = m.affine_layers()
    modules = list(enc.model)
    for weight, bias, activation in layers:
        dense = Dense(
            weight.shape[1],
            weight.shape[0],
            bias=True,
            activation_function=torch.nn.ReLU() if activation == "relu" else torch.nn.Identity(),
            init_weight=torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)),
            init_bias=torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32)),
        )
        modules.append(dense)
    model = SentenceTransformer(modules=modules, device="cpu")
    with building(out, overwrite) as work:
        model.save(str(work))
    return out
