# SPDX-License-Identifier: EUPL-1.2
"""Piper's own HTTP server (``python -m piper.http_server``) as a child process.

Piper is GPL-3.0: it runs only in its own process and is talked to over HTTP, never imported here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from voicebot.llm.server import free_port
from voicebot.process import die_with_parent, stop_process_group


class PiperServerError(Exception):
    """The Piper HTTP server could not be started."""


class PiperHttpServer:
    """Start/stop ``python -m piper.http_server -m VOICE`` on 127.0.0.1 and a free port."""

    def __init__(self, voice: Path, host: str = "127.0.0.1", port: int = 0):
        if not Path(voice).is_file():
            raise PiperServerError(f"Piper voice file not found: {voice}")
        if not Path(f"{voice}.json").is_file():
            raise PiperServerError(f"Piper voice config not found: {voice}.json (it must sit next to the .onnx)")
        self.voice = Path(voice)
        self.host = host
        self.port = port or free_port(host)
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"stock-piper-{os.getpid()}-{self.port}.log"

    @property
    def synthesize_url(self) -> str:
        """The URL PiperHttpTTSService posts to (piper-tts >= 1.3 serves synthesis at /synthesize)."""
        return f"http://{self.host}:{self.port}/synthesize"

    def start(self, timeout: float = 60.0) -> PiperHttpServer:
        cmd = [sys.executable, "-m", "piper.http_server", "-m", str(self.voice),
               "--host", self.host, "--port", str(self.port)]
        try:
            with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True,
                                             preexec_fn=die_with_parent)  # noqa: PLW1509 (no threads yet)
        except OSError as e:
            raise PiperServerError(f"cannot start the Piper HTTP server: {e}") from None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise PiperServerError(f"Piper HTTP server exited with status {code} during start-up "
                                       f"(is piper-tts[http] installed?): {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"http://{self.host}:{self.port}/info", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        tail = self._log_tail()
        self.stop()
        raise PiperServerError(f"Piper HTTP server not ready after {timeout:.0f} s: {tail}")

    def _log_tail(self, lines: int = 2) -> str:
        """The last lines of the child's output (a traceback ends with the error), then the log is removed."""
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            return "(no log)"
        finally:
            self.log_path.unlink(missing_ok=True)
        return " | ".join(line.strip() for line in text.splitlines()[-lines:])[-400:] or "(empty log)"

    def stop(self, timeout: float = 5.0) -> None:
        self.log_path.unlink(missing_ok=True)
        proc, self.proc = self.proc, None
        stop_process_group(proc, timeout)
