# SPDX-License-Identifier: EUPL-1.2
"""One text-to-speech scheduler per process: a turn's first sentence before anyone's later sentences.

Why: what a caller waits for is the first audio of the answer; the second sentence is needed only once the
first has been played (seconds later). With several calls on one engine, a first sentence must not queue
behind other calls' later sentences. The scheduler wraps the process's engine and hands its ``slots``
(e.g. Piper worker processes) to waiting first sentences first, oldest first within a priority.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from prometheus_client import Counter

from voicebot.tts.engines import TTSEngine

TTS_JOBS = Counter("voicebot_tts_jobs_total", "Sentences synthesised, by priority", ["priority"])

FIRST, LATER = 0, 1


class TTSScheduler(TTSEngine):
    """Wraps an engine: at most ``slots`` syntheses at once, first sentences served before later ones."""

    prioritised = True

    def __init__(self, engine: TTSEngine, slots: int = 1):
        self.engine = engine
        self.name = engine.name
        self.slots = max(1, slots)
        self._busy = 0
        self._waiting: list[tuple[int, int, asyncio.Future]] = []
        self._seq = itertools.count()

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return self.engine.sample_rate

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()

    async def _acquire(self, priority: int) -> None:
        if self._busy < self.slots and not self._waiting:
            self._busy += 1
            return
        fut = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._seq), fut))
        try:
            await fut  # the slot is handed over by _release
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # handed over just as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, fut = heapq.heappop(self._waiting)
            if not fut.done():
                fut.set_result(None)
                return
        self._busy -= 1

    async def synthesize(self, text: str, *, first: bool = False) -> bytes:
        priority = FIRST if first else LATER
        await self._acquire(priority)
        try:
            TTS_JOBS.labels(priority="first" if first else "later").inc()
            return await self.engine.synthesize(text)
        finally:
            self._release()
