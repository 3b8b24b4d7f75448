"""The TTS step: SpeakFrames (display text) in, bot audio out, one sentence at a time.

Text is normalised for French speech first (amounts, dates, phone numbers...). Fixed phrases (greeting,
prompts, apologies) are synthesised once per process and replayed from memory.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import soxr
from pipecat.frames.frames import Frame, TTSAudioRawFrame, TTSStartedFrame, TTSStoppedFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import SpeakFrame
from voicebot.french.speech import sayable, to_speech
from voicebot.tts.engines import TTSEngine, TTSError
from voicebot.tts.scheduler import TTSScheduler

log = logging.getLogger(__name__)


def resample_pcm16(pcm: bytes, rate_in: int, rate_out: int) -> bytes:
    if rate_in == rate_out or not pcm:
        return pcm
    audio = np.frombuffer(pcm, dtype=np.int16)
    out = soxr.resample(audio, rate_in, rate_out, quality="HQ")
    return np.clip(out, -32768, 32767).astype(np.int16).tobytes()


class PhraseCache:
    """Audio of fixed phrases, per process, keyed by (speech text, rate)."""

    def __init__(self, engine: TTSEngine, max_items: int = 64):
        self.engine = engine
        self._cache: dict[tuple[str, int], bytes] = {}
        self._max = max_items
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    async def get(self, speech: str, rate: int) -> bytes:
        key = (speech, rate)
        if key in self._cache:
            return self._cache[key]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._cache:
                pcm = resample_pcm16(await self.engine.synthesize(speech), self.engine.sample_rate, rate)
                if len(self._cache) >= self._max:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = pcm
        return self._cache[key]


async def synthesize_at(engine: TTSEngine, speech: str, rate: int, *, first: bool = False) -> bytes:
    if isinstance(engine, TTSScheduler):  # the process's scheduler: a turn's first sentence goes first
        return resample_pcm16(await engine.synthesize(speech, first=first), engine.sample_rate, rate)
    return resample_pcm16(await engine.synthesize(speech), engine.sample_rate, rate)


class SpeechSynthesizer(FrameProcessor):
    """Speaks SpeakFrames: French speech normalisation, then the TTS engine (fixed phrases from the cache)."""

    def __init__(self, state: CallState, engine: TTSEngine, phrase_cache: PhraseCache | None, *,
                 sample_rate: int = 16000, **kwargs):
        super().__init__(**kwargs)
        self._state = state
        self._engine = engine
        self._phrases = phrase_cache
        self._rate = sample_rate
        self._speaking_turn: int | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, SpeakFrame):
            await self._speak(frame)
        else:
            await self.push_frame(frame, direction)

    async def _speak(self, frame: SpeakFrame) -> None:
        speech = to_speech(frame.text) if frame.text.strip() else ""
        if speech and not sayable(speech):
            speech = ""  # "…" alone (an LLM's trailing ellipsis) is nothing to say: Piper stalled on it for 60 s
        if speech:
            try:
                if frame.kind == "phrase" and self._phrases is not None:
                    pcm = await self._phrases.get(speech, self._rate)
                else:
                    pcm = await synthesize_at(self._engine, speech, self._rate,
                                              first=self._speaking_turn != frame.turn)
            except TTSError as e:
                log.error("synthesis failed: %s", e, extra={"call_id": self._state.call_id})
                self._state.publish("error", stage="tts", message=str(e))
                pcm = b""
            if pcm:
                if self._speaking_turn != frame.turn:
                    self._speaking_turn = frame.turn
                    await self.push_frame(TTSStartedFrame())
                self._state.turn(frame.turn).mark("tts_first_audio")
                await self.push_frame(TTSAudioRawFrame(audio=pcm, sample_rate=self._rate, num_channels=1))
        if frame.last and self._speaking_turn is not None:
            self._speaking_turn = None
            await self.push_frame(TTSStoppedFrame())
