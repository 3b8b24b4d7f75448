"""Test support for the back-office: the sample service as its own process (`voicebot backoffice sample`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SampleBackoffice:
    """`python -m voicebot backoffice sample` on a free port, with a fresh SQLite file in ``tmp``."""

    tmp: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "SampleBackoffice":
        self.tmp.mkdir(parents=True, exist_ok=True)
        log = self.tmp / f"backoffice-{self.port}.log"
        cmd = [sys.executable, "-m", "voicebot", "backoffice", "sample", "--port", str(self.port),
               "--db", str(self.tmp / "dossiers.sqlite3"), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=REPO,
                                     env=dict(os.environ, **self.env))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sample back-office exited ({self.proc.returncode}): {log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("sample back-office did not start")

    def stats(self) -> dict:
        return httpx.get(self.url + "/sample/stats", timeout=5).json()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> "SampleBackoffice":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
