"""Groups the questions the bot could not answer into topics, with the app's sentence embedder (USE).

Incremental leader clustering: each new question joins the nearest topic when the cosine similarity of
its embedding to the topic's centroid reaches `threshold`, else it starts a topic. Only questions not
yet in a topic are embedded (or read from the store when an embedding was cached with them), so a
refresh costs the new questions only, whatever the history holds.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sqlalchemy import text

from voicebot.calls import gaps as gap_store
from voicebot.calls.store import CallStore

log = logging.getLogger(__name__)


class GapClusterer:
    def __init__(self, store: CallStore, embedder: Callable[[], Any], threshold: float = 0.6,
                 batch: int = 512) -> None:
        self.store = store
        self._embedder = embedder  # called lazily: the model loads on the first refresh that needs it
        self.threshold = threshold
        self.batch = batch
        self._lock = threading.Lock()

    def refresh(self, limit: int = 20_000) -> int:
        """Cluster up to `limit` pending questions; returns how many were placed. Thread-safe, and on
        PostgreSQL one worker at a time (the others skip: the questions are the same)."""
        with self._lock, self._db_lock() as mine:
            if not mine:
                return 0
            return self._refresh(limit)

    @contextlib.contextmanager
    def _db_lock(self) -> Iterator[bool]:
        if self.store.dialect != "postgresql":
            yield True
            return
        with self.store.engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(715518)")).scalar())
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(715518)"))
                conn.commit()

    def _refresh(self, limit: int) -> int:
        placed = 0
        while placed < limit:
            todo = gap_store.pending(self.store.engine, min(self.batch * 8, limit - placed))
            if not todo.ids:
                break
            self._place(todo)
            placed += len(todo.ids)
        if placed:
            log.info("gap questions clustered", extra={"questions": placed})
        return placed

    def _vectors(self, todo: gap_store.Pending) -> np.ndarray:
        missing = [i for i, v in enumerate(todo.vectors) if v is None]
        if missing:
            emb = self._embedder()
            fresh = emb.embed_queries([todo.texts[i] for i in missing])
            for i, v in zip(missing, fresh):
                todo.vectors[i] = v
        return np.vstack([np.asarray(v, dtype=np.float32) for v in todo.vectors])

    def _place(self, todo: gap_store.Pending) -> None:
        vecs = self._vectors(todo)
        known = gap_store.topics(self.store.engine)
        state = _Topics(known, vecs.shape[1])
        assigned = []
        for start in range(0, len(todo.ids), self.batch):
            block = vecs[start:start + self.batch]
            best, sims = state.nearest(block)
            for j, vec in enumerate(block):
                i = start + j
                if sims[j] >= self.threshold:
                    tid = state.add_to(int(best[j]), vec, todo.schemes[i])
                else:  # maybe a topic opened earlier in this block fits
                    tid = state.add_or_open(vec, todo.texts[i], todo.schemes[i], self.threshold)
                assigned.append({"qid": todo.ids[i], "topic": tid, "vector": vec})
            state.refresh_matrix()
        gap_store.save_clusters(self.store.engine, state.new_topics(), state.changed_topics(), assigned)


class _Topics:
    """Centroid sums in memory while one batch of questions is placed."""

    def __init__(self, known: list[dict[str, Any]], dim: int) -> None:
        self.ids: list[int] = []
        self.sums: list[np.ndarray] = []
        self.sizes: list[int] = []
        self.schemes: list[str] = []
        self.labels: dict[int, str] = {}
        self.changed: set[int] = set()
        for t in known:
            if t["centroid"] is None or t["centroid"].shape[0] != dim:
                continue
            self._append(t["id"], t["centroid"] * max(1, t["size"]), t["size"], t["scheme"])
        self.dim = dim
        self._next_tmp = -1
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.refresh_matrix()

    def _append(self, tid: int, total: np.ndarray, size: int, scheme: str) -> int:
        self.ids.append(tid)
        self.sums.append(np.asarray(total, dtype=np.float32).copy())
        self.sizes.append(size)
        self.schemes.append(scheme or "")
        return len(self.ids) - 1

    def refresh_matrix(self) -> None:
        if self.sums:
            m = np.vstack(self.sums)
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            self.matrix = (m / norms).astype(np.float32)

    def nearest(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.ids:
            return np.zeros(len(block), dtype=int), np.full(len(block), -1.0)
        sims = block @ self.matrix[: len(self.ids)].T
        best = sims.argmax(axis=1)
        return best, sims[np.arange(len(block)), best]

    def add_to(self, k: int, vec: np.ndarray, scheme: str) -> int:
        self.sums[k] += vec
        self.sizes[k] += 1
        if not self.schemes[k] and scheme:
            self.schemes[k] = scheme
        self.changed.add(k)
        return self.ids[k]

    def add_or_open(self, vec: np.ndarray, text: str, scheme: str, threshold: float) -> int:
        """Join a topic opened since the last matrix refresh, or open a new one."""
        fresh = [k for k in range(len(self.ids)) if self.ids[k] < 0 and k >= self.matrix.shape[0]]
        if fresh:
            cands = np.vstack([self.sums[k] / np.linalg.norm(self.sums[k]) for k in fresh])
            sims = cands @ vec
            j = int(sims.argmax())
            if sims[j] >= threshold:
                return self.add_to(fresh[j], vec, scheme)
        tid, self._next_tmp = self._next_tmp, self._next_tmp - 1
        k = self._append(tid, vec, 1, scheme)
        self.labels[tid] = text
        self.changed.add(k)
        return tid

    def new_topics(self) -> list[dict[str, Any]]:
        return [{"id": self.ids[k], "label": self.labels[self.ids[k]][:300], "scheme": self.schemes[k],
                 "centroid": self._centroid(k), "size": self.sizes[k]}
                for k in range(len(self.ids)) if self.ids[k] < 0]

    def changed_topics(self) -> list[dict[str, Any]]:
        return [{"id": self.ids[k], "centroid": self._centroid(k), "size": self.sizes[k], "scheme": self.schemes[k]}
                for k in sorted(self.changed) if self.ids[k] > 0]

    def _centroid(self, k: int) -> np.ndarray:
        v = self.sums[k]
        n = float(np.linalg.norm(v))
        return (v / n if n else v).astype(np.float32)
