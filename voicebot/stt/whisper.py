"""faster-whisper speech-to-text: one model per process, shared by every call.

A segmented recogniser (whole caller turn at once) because Whisper is not a streaming model; the turn
detector hands over the turn's audio as soon as the turn ends. CPU work runs in a worker thread behind a
semaphore so that it never stalls the event loop that paces the calls' audio.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Transcript:
    """Whisper's text for one turn and the signals the transcript guard judges it by."""

    text: str
    avg_logprob: float | None
    no_speech_prob: float | None
    compression_ratio: float | None
    duration_s: float
    elapsed_s: float


class WhisperEngine:
    """A loaded faster-whisper model and the options every call uses."""

    def __init__(self, model_path: Path | str, *, device: str = "cpu", compute_type: str = "int8",
                 language: str = "fr", beam_size: int = 1, cpu_threads: int = 0, max_parallel: int = 1):
        from faster_whisper import WhisperModel

        self.language = language
        self.beam_size = beam_size
        self.model = WhisperModel(str(model_path), device=device, compute_type=compute_type,
                                  cpu_threads=cpu_threads, num_workers=max_parallel)
        self._sem = asyncio.Semaphore(max_parallel)
        self._lock = threading.Lock() if max_parallel == 1 else None

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000) -> Transcript:
        """Transcribe float32 mono audio at 16 kHz (resampled here if needed)."""
        if sample_rate != 16000:
            import soxr

            audio = soxr.resample(audio, sample_rate, 16000, quality="HQ")
        t0 = time.monotonic()
        segments, _info = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            compression_ratio_threshold=2.4,
            log_prob_threshold=-1.0,
            no_speech_threshold=0.6,
        )
        segs = list(segments)
        text = " ".join(s.text.strip() for s in segs).strip()
        n = max(1, len(segs))
        return Transcript(
            text=text,
            avg_logprob=(sum(s.avg_logprob for s in segs) / n) if segs else None,
            no_speech_prob=max((s.no_speech_prob for s in segs), default=None),
            compression_ratio=max((s.compression_ratio for s in segs), default=None),
            duration_s=len(audio) / 16000,
            elapsed_s=time.monotonic() - t0,
        )

    async def transcribe_pcm16(self, pcm: bytes, sample_rate: int) -> Transcript:
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        async with self._sem:
            return await asyncio.to_thread(self.transcribe, audio, sample_rate)
