"""Test support for the real-time core: a real `voicebot serve` process, the committed clips, audio checks."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from benchmarks import harness
from benchmarks.harness import REPO, TEST_CLIPS, ServerProcess, free_port  # noqa: F401


def clip(name: str) -> Path:
    """One of the French clips committed under tests/data/speech-fr/."""
    path = TEST_CLIPS / name
    assert path.is_file(), f"test clip missing: {path}"
    return path


def transcripts() -> dict[str, str]:
    """Reference transcripts of the committed clips, by file name."""
    return harness.transcripts(TEST_CLIPS)


def run_cli(*args: str, env: dict | None = None, timeout: float = 180, input: str | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voicebot", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=dict(os.environ, **(env or {})), input=input)


def read_pcm(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()


def speech_seconds(samples: np.ndarray, rate: int) -> float:
    """Seconds of speech that Silero VAD (pipecat's) finds in 16-bit audio."""
    import soxr
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    audio = samples.astype(np.float32)
    if rate != 16000:
        audio = soxr.resample(audio, rate, 16000)
    pcm = np.clip(audio, -32768, 32767).astype(np.int16)
    vad = SileroVADAnalyzer(sample_rate=16000)
    vad.set_sample_rate(16000)
    n = vad.num_frames_required()
    speech = 0
    for i in range(0, len(pcm) - n, n):
        if vad.voice_confidence(pcm[i:i + n].tobytes()) >= 0.5:
            speech += n
    return speech / 16000
