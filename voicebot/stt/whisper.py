"""faster-whisper speech-to-text: one model per process, shared by every call.

A segmented recogniser (whole caller turn at once) because Whisper is not a streaming model; the turn
detector hands over the turn's audio as soon as the turn ends. CPU work runs in a worker thread behind a
semaphore so that it never stalls the event loop that paces the calls' audio.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Decoding options of every transcription (and of the benchmark's stock reference, for a like-for-like run):
# one temperature (no fallback re-decoding), no timestamps, no Whisper-side VAD (the turn detector already cut
# the turn), no conditioning on a previous window.
DECODE_OPTIONS = dict(temperature=0.0, condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
                      compression_ratio_threshold=2.4, log_prob_threshold=-1.0, no_speech_threshold=0.6)
# Bound on the tokens decoded per second of audio. The fastest of the shared French clips needs 6 per second
# (Whisper's tokenizer on its transcript). A greedy decode that loops (a 7-s sentence came back as 815
# characters of repetition, see the window retry below) otherwise runs on to Whisper's 448-token limit, on
# the critical path, for a transcript the guard rejects anyway.
MAX_TOKENS_PER_S = 12
MAX_TOKENS_BASE = 20


def max_new_tokens(duration_s: float) -> int:
    """The most tokens a turn of this length can hold, with a wide margin; a loop stops there."""
    return min(440, MAX_TOKENS_BASE + int(MAX_TOKENS_PER_S * duration_s))


@dataclass
class Transcript:
    """Whisper's text for one turn and the signals the transcript guard judges it by."""

    text: str
    avg_logprob: float | None
    no_speech_prob: float | None
    compression_ratio: float | None
    duration_s: float
    elapsed_s: float


def speech_window_frames(samples: int, min_s: float = 0.0) -> int:
    """Mel frames the encoder gets in the 'speech' window: the turn plus 0.5 s, in whole seconds.

    At least ``min_s`` (short turns lose words on a window far shorter than the 30 s Whisper was trained
    on), at most 30 s.
    """
    frames = max(samples // 160 + 50, int(min_s * 100))  # 100 frames per second at 16 kHz, 0.5 s of margin
    return min(3000, -(-frames // 100) * 100)


def _window_model(base: type) -> type:
    """faster-whisper's model with an encoder that can stop at the end of the turn.

    Whisper's encoder always runs on a 30-s window (the turn padded with silence): on 2 CPU cores that is
    about 1.5 s per turn whatever its length, the largest stage of a voice turn (benchmarks/results/
    2026-12-02-vm-2cpu/LATENCY-README.md). Cutting the padding off the features makes the encoder's cost
    follow the turn's length. Owned here because faster-whisper offers no option for it; the frame count
    is per thread, since several transcriptions may run at once.
    """

    class WindowedWhisperModel(base):
        frames = threading.local()

        def encode(self, features: np.ndarray):
            keep = getattr(self.frames, "n", 0)
            if keep and features.shape[-1] > keep:
                features = np.ascontiguousarray(features[..., :keep])
            self.frames.last = int(features.shape[-1])
            return super().encode(features)

    return WindowedWhisperModel


class WhisperEngine:
    """A loaded faster-whisper model and the options every call uses."""

    def __init__(self, model_path: Path | str, *, device: str = "cpu", compute_type: str = "int8",
                 language: str = "fr", beam_size: int = 1, cpu_threads: int = 0, max_parallel: int = 1,
                 batch_size: int = 1, shed_backlog: int = 1, speculative_max_wait_s: float = 0.5,
                 encoder_window: str = "full", encoder_min_s: float = 10.0, encoder_full_below_s: float = 0.0):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        from voicebot.stt.scheduler import STTScheduler

        if encoder_window not in ("full", "speech"):
            raise ValueError(f"encoder_window must be 'full' or 'speech', not {encoder_window!r}")
        self.language = language
        self.beam_size = beam_size
        self.encoder_window = encoder_window
        self.window_retries = 0  # 'speech' window decodes that looped and were redone on the full window
        self.encoder_min_s = encoder_min_s
        self.encoder_full_below_s = encoder_full_below_s
        self.model = _window_model(WhisperModel)(str(model_path), device=device, compute_type=compute_type,
                                                 cpu_threads=cpu_threads, num_workers=max_parallel)
        # Several calls' turns decoded in one batch (worth it on a GPU; batch_size 1 on CPU).
        self.batched = BatchedInferencePipeline(self.model) if batch_size > 1 else None
        self.scheduler = STTScheduler(self.transcribe_batch, max_parallel=max_parallel, batch_size=batch_size,
                                      shed_backlog=shed_backlog, speculative_max_wait_s=speculative_max_wait_s)

    def transcribe(self, audio: np.ndarray, sample_rate: int = 16000) -> Transcript:
        """Transcribe float32 mono audio at 16 kHz (resampled here if needed)."""
        if sample_rate != 16000:
            import soxr

            audio = soxr.resample(audio, sample_rate, 16000, quality="HQ")
        t0 = time.monotonic()
        window = 0
        if self.encoder_window == "speech" and len(audio) >= self.encoder_full_below_s * 16000:
            # A short turn ("oui", "non merci") keeps the full window: it is where a cut window loses the
            # most (benchmarks/stt_short_replies.py), and such replies steer the dialogue.
            window = speech_window_frames(len(audio), self.encoder_min_s)
        result = self._decode(audio, window, t0)
        if window and window < 3000 and _looped(result):
            # Greedy decoding sometimes loops on the cut window (a 7-s read sentence came back as 815
            # characters, which the transcript guard rightly rejects, so the caller got no answer) or gives
            # nothing (a 3-s question, once in 12). The full window is the decoding Whisper was trained on:
            # one more pass on the rare turn is cheaper than a lost turn.
            self.window_retries += 1
            result = self._decode(audio, 0, t0)
        return result

    def _decode(self, audio: np.ndarray, window: int, t0: float) -> Transcript:
        frames = self.model.frames
        frames.n = window
        try:
            segments, _info = self.model.transcribe(audio, language=self.language, beam_size=self.beam_size,
                                                    max_new_tokens=max_new_tokens(len(audio) / 16000),
                                                    **DECODE_OPTIONS)
            segs = list(segments)
        finally:
            frames.n = 0
        return _transcript(segs, len(audio) / 16000, time.monotonic() - t0)

    def transcribe_batch(self, audios: list[np.ndarray]) -> list[Transcript]:
        """Transcribe several turns (float32, 16 kHz) at once: one batched decode when batching is on.

        The turns are laid end to end with a gap and given to faster-whisper's BatchedInferencePipeline as
        explicit clips, so each turn is one item of the decoder's batch; segments come back by offset.
        """
        if self.batched is None or len(audios) == 1:
            return [self.transcribe(a) for a in audios]
        t0 = time.monotonic()
        gap = np.zeros(1600, dtype=np.float32)  # 0.1 s between turns
        spans, parts, pos = [], [], 0
        for a in audios:
            a = a[: 30 * 16000]  # a turn longer than Whisper's window is cut (the turn detector caps turns)
            spans.append((pos / 16000, (pos + len(a)) / 16000))
            parts += [a.astype(np.float32), gap]
            pos += len(a) + len(gap)
        opts = {k: v for k, v in DECODE_OPTIONS.items() if k not in ("condition_on_previous_text", "vad_filter")}
        segments, _info = self.batched.transcribe(
            np.concatenate(parts), language=self.language, beam_size=self.beam_size, batch_size=len(audios),
            clip_timestamps=[{"start": s, "end": e} for s, e in spans], vad_filter=False,
            max_new_tokens=max_new_tokens(max(e - s for s, e in spans)), **opts)
        by_turn: list[list] = [[] for _ in audios]
        for seg in segments:
            i = next((k for k, (s, e) in enumerate(spans) if s - 0.01 <= seg.start < e), None)
            if i is not None:
                by_turn[i].append(seg)
        elapsed = time.monotonic() - t0
        return [_transcript(segs, (e - s), elapsed) for segs, (s, e) in zip(by_turn, spans, strict=True)]

    async def transcribe_pcm16(self, pcm: bytes, sample_rate: int, *, speculative: bool = False) -> Transcript:
        """Transcribe one turn through the process's shared scheduler (raises STTShed for shed speculation)."""
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        if sample_rate != 16000:
            import soxr

            audio = soxr.resample(audio, sample_rate, 16000, quality="HQ")
        return await self.scheduler.submit(audio, speculative=speculative)


def _looped(t: Transcript) -> bool:
    """A decode to redo: Whisper's loop sign, far more characters than anyone says, or nothing at all.

    Loop sign: compression ratio above 2.4. Nothing at all from a turn of a second or more, where the turn
    detector heard speech.
    """
    return (t.compression_ratio or 0.0) > DECODE_OPTIONS["compression_ratio_threshold"] or (
        len(t.text) > 30 * max(t.duration_s, 1.0)) or (not t.text.strip() and t.duration_s >= 1.0)


def _transcript(segs: list, duration_s: float, elapsed_s: float) -> Transcript:
    text = " ".join(s.text.strip() for s in segs).strip()
    n = max(1, len(segs))
    return Transcript(
        text=text,
        avg_logprob=(sum(s.avg_logprob for s in segs) / n) if segs else None,
        no_speech_prob=max((s.no_speech_prob for s in segs), default=None),
        compression_ratio=max((s.compression_ratio for s in segs), default=None),
        duration_s=duration_s,
        elapsed_s=elapsed_s,
    )
