"""Graceful drain of a worker: on SIGTERM stop taking new calls, let live calls end, then exit.

Kubernetes (and podman) send SIGTERM when a pod is replaced or scaled down, then SIGKILL after
``terminationGracePeriodSeconds``. A voice call cannot be moved to another process, so the worker
keeps serving the calls it has and refuses new ones everywhere they could arrive:

- SIP: INVITE and OPTIONS get 503 (kamailio's dispatcher probes with OPTIONS and stops routing here);
- WebSocket: a new call is refused with close code 1013 ("try again later");
- HTTP: ``/readyz`` answers 503, so the Service and any HTTP load balancer take the pod out.

The worker exits when its last call ends, or when ``server.drain_timeout_s`` elapses (remaining calls
are then hung up with a BYE). A second SIGTERM, or SIGINT, exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Drain:
    """The drain state of one worker process, shared by its entry points."""

    def __init__(self, active_calls: Callable[[], int], timeout_s: float, poll_s: float = 0.2) -> None:
        self._active_calls = active_calls
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.draining = False
        self.started_at: float | None = None
        self._listeners: list[Callable[[], None]] = []
        self._task: asyncio.Task | None = None

    def on_start(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the drain starts (e.g. flip the SIP endpoint to 503)."""
        self._listeners.append(callback)

    def begin(self, then: Callable[[], None]) -> asyncio.Task | None:
        """Start draining (idempotent); ``then`` runs once the last call ended or the timeout elapsed."""
        if self.draining:
            return self._task
        self.draining = True
        self.started_at = time.monotonic()
        for callback in self._listeners:
            try:
                callback()
            except Exception:  # one entry point failing to close must not stop the drain
                log.exception("drain listener failed")
        log.warning("draining: new calls refused, waiting for %d live call(s), at most %.0f s",
                    self._active_calls(), self.timeout_s, extra={"calls": self._active_calls()})
        self._task = asyncio.get_running_loop().create_task(self._wait(then), name="drain")
        return self._task

    async def _wait(self, then: Callable[[], None]) -> None:
        deadline = time.monotonic() + self.timeout_s
        # The calls end in other tasks (and other requests): polling their count is the point.
        while self._active_calls() > 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(self.poll_s)
        left = self._active_calls()
        if left:
            log.warning("drain timeout: %d call(s) still live are hung up", left, extra={"calls": left})
        else:
            log.info("drained: no live call left, exiting")
        then()
