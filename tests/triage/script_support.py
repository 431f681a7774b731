"""Embedding a text as the worker's classifier does (MiniLM for Latin script, e5 for
Chinese), over models the tests have loaded already."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from triage.embedder import Embedder


def script_encoder(embedder: Embedder, e5: Embedder) -> Any:
    """The worker's classifier encoder over already loaded models: MiniLM for a text's Latin
    part, multilingual-e5-small for its Chinese part."""
    from triage.encoder import Encoder, ScriptEncoder

    return ScriptEncoder(Encoder(embedder=embedder), Encoder(embedder=e5))


def script_vectors(embedder: Embedder, e5: Embedder, texts: Sequence[str]) -> np.ndarray:
    """``texts`` embedded as the worker's classifier embeds an inquiry."""
    import asyncio

    async def encode() -> np.ndarray:
        encoder = script_encoder(embedder, e5)
        try:
            rows = [await encoder.encode_one(text) for text in texts]
        finally:
            await encoder.close()
        return np.vstack(rows)

    return asyncio.run(encode())
