"""The embedded LLM: a llama.cpp server (llama-cpp-python's OpenAI-compatible server) as a child process.

A child process rather than in-process bindings so that the model's CPU work never blocks the event loop
that paces call audio, so that it is shared by every call of the worker, and so that the embedded and the
production (vLLM) paths speak the same OpenAI-compatible HTTP API through one client.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

from voicebot.process import ChildExited, die_with_parent, free_port, stop_process_group, wait_http_ready

log = logging.getLogger(__name__)


class LLMServerError(Exception):
    """The embedded LLM server could not be started."""


class EmbeddedLlamaServer:
    """Start/stop ``python -m llama_cpp.server`` for one GGUF model on 127.0.0.1."""

    def __init__(self, model_path: Path, host: str = "127.0.0.1", port: int = 0, n_ctx: int = 2048,
                 n_threads: int = 2, log_file: Path | None = None, model_alias: str = "embedded",
                 prompt_cache: bool = True, interrupt_requests: bool = False, cache_mb: int = 128):
        if not Path(model_path).is_file():
            raise LLMServerError(f"GGUF model file not found: {model_path}")
        self.model_path = Path(model_path)
        self.host = host
        self.port = port or free_port(host)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.log_file = log_file
        self.model_alias = model_alias
        self.prompt_cache = prompt_cache
        self.interrupt_requests = interrupt_requests  # True only for the benchmark's stock reference
        self.cache_mb = cache_mb
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path), "--model_alias", self.model_alias,
            "--host", self.host, "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
            # One request at a time, to its end: by default llama-cpp-python ends the answer in progress
            # (a silent "[DONE]") as soon as another request waits, i.e. one call's answer is cut short
            # whenever another call asks.
            "--interrupt_requests", "true" if self.interrupt_requests else "false",
            # Keeps the KV cache of the shared prompt prefix (system prompt + knowledge) between requests.
            # Bounded: llama-cpp-python saves a 3-11 MB state after every answer and scans every saved
            # state, in Python, before each request; at its 2 GB default a benchmark run's server grew to
            # 2.4 GB and its answers slowed call after call (a turn of 8 s by the tenth call).
            *(["--cache", "true", "--cache_type", "ram", "--cache_size", str(self.cache_mb << 20)]
              if self.prompt_cache else []),
        ]

    def spawn(self) -> None:
        """Start the child process (from the calling thread: its death signal is tied to that thread)."""
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
        except OSError as e:
            raise LLMServerError(f"cannot start llama.cpp server: {e}") from None

    def wait_ready(self, timeout: float = 120.0) -> "EmbeddedLlamaServer":
        assert self.proc is not None
        try:
            ready = wait_http_ready(self.proc, f"{self.base_url}/models", timeout)
        except ChildExited as e:
            raise LLMServerError(
                f"llama.cpp server exited with status {e.returncode} during start-up"
                + (f" (log: {self.log_file})" if self.log_file else "")
                + ("; is llama-cpp-python[server] installed?" if e.returncode == 1 else "")
            ) from None
        if ready:
            log.info("embedded LLM ready at %s (%s)", self.base_url, self.model_path.name)
            return self
        self.stop()
        raise LLMServerError(f"llama.cpp server not ready after {timeout:.0f} s")

    def start(self, timeout: float = 120.0) -> "EmbeddedLlamaServer":
        self.spawn()
        return self.wait_ready(timeout)

    async def start_async(self, timeout: float = 120.0) -> "EmbeddedLlamaServer":
        self.spawn()
        return await asyncio.to_thread(self.wait_ready, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        stop_process_group(proc, timeout)

    def __enter__(self) -> "EmbeddedLlamaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
