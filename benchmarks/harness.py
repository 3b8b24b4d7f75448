"""A voicebot server (or any server speaking its WebSocket protocol) run as a child process.

Used by the latency benchmark and the end-to-end tests: start, wait for /healthz, stop with SIGTERM.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from voicebot.process import ChildExited, free_port, wait_http_ready

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VOICEBOT_SHARED_DIR", REPO.parent / "shared"))
CLIPS = SHARED / "data" / "speech-fr"  # all 36 clips: the benchmarks that need many read them here
TEST_CLIPS = REPO / "tests" / "data" / "speech-fr"  # the five committed with the tests (licences there)


def transcripts(clips: Path = CLIPS) -> dict[str, str]:
    """Reference transcripts of a folder of French clips (its manifest.csv), by file name."""
    with (clips / "manifest.csv").open(encoding="utf-8") as f:
        return {row["file"]: row["transcript"] for row in csv.DictReader(f)}



@dataclass
class ServerProcess:
    """``python -m voicebot serve`` (or ``command``) on a free port; settings through VOICEBOT_* variables."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    command: list[str] | None = None
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_pcm(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/pcm"

    def start(self, timeout: float = 240.0) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"serve-{self.port}.log"
        cmd = self.command or [sys.executable, "-m", "voicebot", "serve", "--http-port", str(self.port),
                               "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **self.env), cwd=REPO)
        try:
            ready = wait_http_ready(self.proc, f"{self.url}/healthz", timeout, interval=0.3)
        except ChildExited as e:
            raise RuntimeError(f"server exited ({e.returncode}):\n{self.log()[-3000:]}") from None
        if ready:
            return self
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # drains: waits for live calls (voicebot.drain)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)  # a second SIGTERM exits at once
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)

    def child_pids(self, pattern: str) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", pattern], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]
