# SPDX-License-Identifier: EUPL-1.2
"""One speech-to-text scheduler per process: every call's transcriptions queue here.

Why: with many calls on few cores, transcriptions compete. A caller who finished speaking waits on a
*final* transcript; a *speculative* one (started during a pause, used only if the caller does not go on)
is a bet. So finals always run before speculative work, speculative work is refused outright when the
queue is already backed up (shed, not queued behind real turns), and a speculative job that waited too
long is dropped when its turn comes. On a GPU several waiting turns are decoded in one batch.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

STT_JOBS = Counter("voicebot_stt_jobs_total", "Speech-to-text jobs by kind and outcome", ["kind", "outcome"])
STT_WAITING = Gauge("voicebot_stt_queue_depth", "Speech-to-text jobs waiting for a decoder")

FINAL, SPECULATIVE = 0, 1  # priorities: lower runs first


class STTShed(Exception):
    """A speculative transcription was refused or dropped because the process is busy with real turns."""


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    audio: np.ndarray = field(compare=False)
    future: asyncio.Future = field(compare=False)
    queued_at: float = field(compare=False, default_factory=time.monotonic)


BatchFn = Callable[[list[np.ndarray]], list[Any]]


class STTScheduler:
    """Priority queue in front of a batch transcription function run in worker threads.

    ``max_parallel`` decoders run at once (CPU: 1; the model's own threads use the cores), each taking up
    to ``batch_size`` waiting jobs of the same priority. A speculative job is shed when ``shed_backlog``
    jobs are already waiting, or when it waited longer than ``speculative_max_wait_s``.
    """

    def __init__(self, batch_fn: BatchFn, *, max_parallel: int = 1, batch_size: int = 1, shed_backlog: int = 1,
                 speculative_max_wait_s: float = 0.5):
        self._batch_fn = batch_fn
        self.max_parallel = max(1, max_parallel)
        self.batch_size = max(1, batch_size)
        self.shed_backlog = max(0, shed_backlog)
        self.speculative_max_wait_s = speculative_max_wait_s
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._running = 0
        self.stats = {"final": 0, "speculative": 0, "shed": 0, "batches": 0, "largest_batch": 0}

    @property
    def waiting(self) -> int:
        return sum(1 for j in self._heap if not j.future.done())

    async def submit(self, audio: np.ndarray, *, speculative: bool = False) -> Any:
        """Queue one turn's audio (float32 mono 16 kHz) and wait for its transcript."""
        kind = "speculative" if speculative else "final"
        if speculative and self.waiting >= self.shed_backlog and self._running >= self.max_parallel:
            self._shed("backlog")
            raise STTShed("speech-to-text busy: speculative transcription shed")
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, _Job(SPECULATIVE if speculative else FINAL, next(self._seq), audio, fut))
        self.stats[kind] += 1
        STT_WAITING.set(self.waiting)
        self._pump()
        try:
            result = await fut
        except STTShed:
            raise
        except asyncio.CancelledError:
            STT_JOBS.labels(kind=kind, outcome="cancelled").inc()
            raise
        STT_JOBS.labels(kind=kind, outcome="done").inc()
        return result

    def _shed(self, why: str) -> None:
        self.stats["shed"] += 1
        STT_JOBS.labels(kind="speculative", outcome=f"shed_{why}").inc()

    def _next_batch(self) -> list[_Job]:
        """Up to batch_size live jobs of the best priority; stale speculative jobs are dropped on the way."""
        batch: list[_Job] = []
        now = time.monotonic()
        while self._heap and len(batch) < self.batch_size:
            job = self._heap[0]
            if batch and job.priority != batch[0].priority:
                break
            heapq.heappop(self._heap)
            if job.future.done():  # cancelled by its call (the caller went on, the call ended)
                continue
            if job.priority == SPECULATIVE and now - job.queued_at > self.speculative_max_wait_s:
                self._shed("stale")
                job.future.set_exception(STTShed("speculative transcription waited too long"))
                continue
            batch.append(job)
        return batch

    def _pump(self) -> None:
        while self._running < self.max_parallel:
            batch = self._next_batch()
            STT_WAITING.set(self.waiting)
            if not batch:
                return
            self._running += 1
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[_Job]) -> None:
        self.stats["batches"] += 1
        self.stats["largest_batch"] = max(self.stats["largest_batch"], len(batch))
        try:
            results = await asyncio.to_thread(self._batch_fn, [j.audio for j in batch])
        except Exception as e:  # one failed decode fails its own turns, never the scheduler
            log.exception("speech-to-text batch failed")
            for j in batch:
                if not j.future.done():
                    j.future.set_exception(e)
        else:
            for j, r in zip(batch, results, strict=False):
                if not j.future.done():
                    j.future.set_result(r)
        finally:
            self._running -= 1
            self._pump()
