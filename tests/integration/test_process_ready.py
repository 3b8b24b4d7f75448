"""The one readiness rule for child servers (voicebot.process.wait_http_ready), on real child processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from voicebot.process import ChildExited, free_port, stop_process_group, wait_http_ready


def _child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def test_a_server_that_answers_is_ready():
    port = free_port()
    proc = _child("-m", "http.server", str(port), "--bind", "127.0.0.1")
    try:
        assert wait_http_ready(proc, f"http://127.0.0.1:{port}/", timeout=60) is True
    finally:
        stop_process_group(proc)


def test_a_child_that_dies_is_reported_at_once_with_its_status():
    proc = _child("-c", "import sys; sys.exit(3)")
    with pytest.raises(ChildExited) as e:
        wait_http_ready(proc, f"http://127.0.0.1:{free_port()}/", timeout=60)
    assert e.value.returncode == 3


def test_a_silent_child_is_not_ready_after_the_timeout():
    proc = _child("-c", "import time; time.sleep(60)")
    try:
        assert wait_http_ready(proc, f"http://127.0.0.1:{free_port()}/", timeout=1.0) is False
        assert proc.poll() is None
    finally:
        stop_process_group(proc)
