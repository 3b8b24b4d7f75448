"""The process-wide speech-to-text scheduler: finals first, speculation shed under load, batches formed."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from voicebot.stt.scheduler import STTScheduler, STTShed


class GatedDecoder:
    """A batch function that records what it was given and waits for the test to let each batch finish."""

    def __init__(self):
        self.batches: list[list[float]] = []
        self.gate = threading.Event()

    def __call__(self, audios: list[np.ndarray]) -> list[str]:
        self.batches.append([float(a[0]) for a in audios])
        self.gate.wait(5)
        return [f"t{a[0]:.0f}" for a in audios]


def audio(tag: float) -> np.ndarray:
    return np.full(160, tag, dtype=np.float32)


async def until(cond, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.005)


async def test_final_transcripts_run_before_waiting_speculative_ones():
    dec = GatedDecoder()
    sched = STTScheduler(dec, shed_backlog=5, speculative_max_wait_s=10)
    first = asyncio.create_task(sched.submit(audio(1)))  # occupies the decoder
    await until(lambda: len(dec.batches) == 1)
    spec = asyncio.create_task(sched.submit(audio(2), speculative=True))
    final = asyncio.create_task(sched.submit(audio(3)))
    await until(lambda: sched.waiting == 2)
    dec.gate.set()
    assert await asyncio.gather(first, final, spec) == ["t1", "t3", "t2"]
    assert [b[0] for b in dec.batches] == [1.0, 3.0, 2.0]  # the final queued after the speculation ran first


async def test_speculative_work_is_shed_when_the_decoder_is_backed_up():
    dec = GatedDecoder()
    sched = STTScheduler(dec, shed_backlog=1)
    busy = asyncio.create_task(sched.submit(audio(1)))
    await until(lambda: len(dec.batches) == 1)
    waiting_final = asyncio.create_task(sched.submit(audio(2)))
    await until(lambda: sched.waiting == 1)
    with pytest.raises(STTShed):
        await sched.submit(audio(3), speculative=True)
    dec.gate.set()
    assert await asyncio.gather(busy, waiting_final) == ["t1", "t2"]
    assert sched.stats["shed"] == 1 and all(b != [3.0] for b in dec.batches)


async def test_a_speculative_job_that_waited_too_long_is_dropped_not_decoded():
    dec = GatedDecoder()
    sched = STTScheduler(dec, shed_backlog=5, speculative_max_wait_s=0.05)
    busy = asyncio.create_task(sched.submit(audio(1)))
    await until(lambda: len(dec.batches) == 1)
    spec = asyncio.create_task(sched.submit(audio(2), speculative=True))
    await asyncio.sleep(0.2)
    dec.gate.set()
    assert await busy == "t1"
    with pytest.raises(STTShed):
        await spec
    assert dec.batches == [[1.0]]


async def test_waiting_turns_of_several_calls_are_decoded_in_one_batch():
    dec = GatedDecoder()
    sched = STTScheduler(dec, batch_size=4)
    first = asyncio.create_task(sched.submit(audio(1)))
    await until(lambda: len(dec.batches) == 1)
    rest = [asyncio.create_task(sched.submit(audio(k))) for k in (2, 3, 4)]
    await until(lambda: sched.waiting == 3)
    dec.gate.set()
    assert await asyncio.gather(first, *rest) == ["t1", "t2", "t3", "t4"]
    assert dec.batches == [[1.0], [2.0, 3.0, 4.0]] and sched.stats["largest_batch"] == 3


async def test_a_cancelled_turn_is_skipped_and_a_failing_decode_fails_only_its_batch():
    calls: list[list[float]] = []

    def flaky(audios):
        calls.append([float(a[0]) for a in audios])
        if audios[0][0] == 2:
            raise RuntimeError("decoder crashed")
        return ["ok"] * len(audios)

    sched = STTScheduler(flaky)
    with pytest.raises(RuntimeError):
        await sched.submit(audio(2))
    assert await sched.submit(audio(5)) == "ok"
    assert calls == [[2.0], [5.0]]
