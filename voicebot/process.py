"""Child processes of a worker (llama.cpp server, Piper servers): they die with the worker and stop as a group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now, for a child server (or a test peer) to listen on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the spawning thread dies, even by SIGKILL (Linux).

    Spawn from the event loop's (main) thread: the signal is tied to the thread, not the process.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def stop_process_group(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """SIGTERM the child's process group, SIGKILL it if it has not gone after ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError, PermissionError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout)


class ChildExited(Exception):
    """A child server exited before it answered its readiness check."""

    def __init__(self, returncode: int | None):
        super().__init__(f"exited with status {returncode}")
        self.returncode = returncode


def wait_http_ready(proc: subprocess.Popen, url: str, timeout: float, interval: float = 0.2) -> bool:
    """Poll ``url`` until it answers 200 (True), or ``timeout`` seconds pass (False).

    The one readiness rule for child servers (the llama.cpp server, a benchmark's voicebot): raises
    ChildExited as soon as ``proc`` dies, instead of waiting out the timeout.
    """
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ChildExited(proc.returncode)
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    return False
