"""The process-wide TTS scheduler: a turn's first sentence is served before other calls' later sentences."""

from __future__ import annotations

import asyncio

from voicebot.tts.engines import TTSEngine
from voicebot.tts.scheduler import TTSScheduler


class GatedEngine(TTSEngine):
    name = "gated"
    sample_rate = 16000

    def __init__(self):
        self.order: list[str] = []
        self.release = asyncio.Event()

    async def synthesize(self, text: str) -> bytes:
        self.order.append(text)
        await self.release.wait()
        return text.encode()


async def until(cond) -> None:
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_first_sentences_jump_the_queue_of_later_sentences():
    engine = GatedEngine()
    tts = TTSScheduler(engine, slots=1)
    busy = asyncio.create_task(tts.synthesize("call A sentence 2"))
    await until(lambda: engine.order == ["call A sentence 2"])
    later = asyncio.create_task(tts.synthesize("call A sentence 3"))
    first = asyncio.create_task(tts.synthesize("call B sentence 1", first=True))
    await asyncio.sleep(0.02)
    engine.release.set()
    assert await asyncio.gather(busy, later, first) == [b"call A sentence 2", b"call A sentence 3",
                                                         b"call B sentence 1"]
    assert engine.order == ["call A sentence 2", "call B sentence 1", "call A sentence 3"]
    assert tts.sample_rate == 16000 and tts.name == "gated"


async def test_a_cancelled_waiter_does_not_keep_its_slot():
    engine = GatedEngine()
    tts = TTSScheduler(engine, slots=1)
    busy = asyncio.create_task(tts.synthesize("one"))
    await until(lambda: engine.order == ["one"])
    gone = asyncio.create_task(tts.synthesize("gone", first=True))
    await asyncio.sleep(0.01)
    gone.cancel()
    engine.release.set()
    assert await busy == b"one"
    assert await tts.synthesize("next") == b"next"  # the slot came back
    assert "gone" not in engine.order
