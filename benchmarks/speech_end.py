# SPDX-License-Identifier: EUPL-1.2
"""Where the caller's speech really ends in a clip: Silero VAD run offline on the source WAV, cached.

The latency benchmark measures "end of caller speech → first bot audio" at the wire. Taking the end of
speech from a live energy threshold lets a click or breath move it by more than a second, so both
systems are timed from the clip's known speech end instead, computed once here from the file itself
(Silero VAD, the model pipecat ships, at 16 kHz) and cached by the file's sha256.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

VAD_RATE = 16000
CHUNK = 512  # samples per Silero window at 16 kHz (32 ms)
THRESHOLD = 0.5  # Silero's own default speech probability
MIN_SPEECH_CHUNKS = 3  # a lone click (< ~100 ms) is not speech


def last_speech_end(probs: Sequence[float], chunk_s: float, *, threshold: float = THRESHOLD,
                    min_run: int = MIN_SPEECH_CHUNKS) -> float | None:
    """End time (s) of the last run of >= ``min_run`` chunks whose probability is >= ``threshold``.

    Pure: the probabilities come from any VAD; None when no run is long enough (no speech).
    """
    end, run = None, 0
    for i, p in enumerate(probs):
        if p >= threshold:
            run += 1
            if run >= min_run:
                end = (i + 1) * chunk_s
        else:
            run = 0
    return end


def _silero_path() -> str:
    from importlib import resources

    return str(resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx"))


def speech_probs(samples_16k: np.ndarray) -> list[float]:
    """Silero speech probability of each 32 ms window of float32 mono audio at 16 kHz."""
    from pipecat.audio.vad.silero import SileroOnnxModel

    model = SileroOnnxModel(_silero_path(), force_onnx_cpu=True)
    n = len(samples_16k) // CHUNK * CHUNK
    frames = samples_16k[:n].astype(np.float32).reshape(-1, CHUNK)
    return [float(model(f[None, :], VAD_RATE)[0][0]) for f in frames]


def wav_speech_end(path: Path) -> float | None:
    """Seconds from the start of the WAV to the end of its last speech, by Silero VAD."""
    from voicebot.telephony.caller import read_wav

    samples = read_wav(path, VAD_RATE).astype(np.float32) / 32768.0
    return last_speech_end(speech_probs(samples), CHUNK / VAD_RATE)


class SpeechEndCache:
    """Speech ends of WAV files, computed once per file content and kept in a JSON file."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._data: dict[str, float | None] = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            self._data = {}

    def get(self, wav: Path) -> float | None:
        key = hashlib.sha256(wav.read_bytes()).hexdigest()
        if key not in self._data:
            self._data[key] = wav_speech_end(wav)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self._data, indent=1, sort_keys=True))
        return self._data[key]

    def ends(self, wavs: Sequence[Path]) -> dict[str, float]:
        """{str(path): speech end s} for every clip that has speech (others are left out and logged)."""
        out = {}
        for w in wavs:
            end = self.get(w)
            if end is None:
                log.warning("no speech found in %s", w)
            else:
                out[str(w)] = end
        return out
