"""Batched decoding (the GPU path, run here on CPU): several calls' turns in one BatchedInferencePipeline call."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from core_support import clip, transcripts

from voicebot.config import load_settings
from voicebot.models import resolve
from benchmarks.text_metrics import wer
from voicebot.stt.whisper import WhisperEngine
from voicebot.telephony.caller import read_wav

pytestmark = pytest.mark.models
CLIPS = ["029.wav", "002.wav", "001.wav"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    settings = load_settings(overrides={"server.data_dir": str(tmp_path_factory.mktemp("stt-data"))})
    return resolve("stt", settings).path


def audio(name: str) -> np.ndarray:
    return read_wav(clip(name), 16000).astype(np.float32) / 32768.0


def test_a_batch_of_turns_comes_back_in_order_each_with_its_own_text(model_path):
    engine = WhisperEngine(model_path, batch_size=len(CLIPS), cpu_threads=2)
    assert engine.batched is not None
    got = engine.transcribe_batch([audio(n) for n in CLIPS])
    refs = transcripts()
    assert len(got) == len(CLIPS)
    for i, name in enumerate(CLIPS):
        own = wer(refs[name], got[i].text)
        others = [wer(refs[o], got[i].text) for o in CLIPS if o != name]
        assert own <= 0.5 and own < min(others), (name, got[i].text)
        assert got[i].avg_logprob is not None and abs(got[i].duration_s - len(audio(name)) / 16000) < 0.01


async def test_the_scheduler_batches_turns_that_wait_together(model_path):
    engine = WhisperEngine(model_path, batch_size=4, cpu_threads=2)
    pcm = [(audio(n) * 32768).astype(np.int16).tobytes() for n in CLIPS]
    results = await asyncio.gather(*(engine.transcribe_pcm16(p, 16000) for p in pcm))
    assert engine.scheduler.stats["largest_batch"] >= 2  # the first runs alone, the others wait and go together
    refs = transcripts()
    assert all(wer(refs[n], r.text) <= 0.5 for n, r in zip(CLIPS, results, strict=True)), [r.text for r in results]
