"""Test support for the real-time core: a real `voicebot serve` process, shared clips, audio checks."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VOICEBOT_SHARED_DIR", REPO.parent / "shared"))
CLIPS = SHARED / "data" / "speech-fr"


def clip(name: str) -> Path:
    path = CLIPS / name
    assert path.is_file(), f"shared clip missing: {path} (set VOICEBOT_SHARED_DIR)"
    return path


def transcripts() -> dict[str, str]:
    with (CLIPS / "manifest.csv").open(encoding="utf-8") as f:
        return {row["file"]: row["transcript"] for row in csv.DictReader(f)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """`python -m voicebot serve` on a free port, with its own settings through VOICEBOT_* variables."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_pcm(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/pcm"

    def start(self, timeout: float = 240.0) -> "ServerProcess":
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        env = dict(os.environ, **self.env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicebot", "serve", "--http-port", str(self.port),
             "--data-dir", str(self.data_dir)],
            stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voicebot serve exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"voicebot serve not healthy after {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def child_pids(self, pattern: str) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", pattern], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]


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
