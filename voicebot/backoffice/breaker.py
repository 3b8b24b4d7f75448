"""A small circuit breaker: after N consecutive failures, fail fast for a while, then allow one trial.

A caller waiting on the line must not sit through a timeout for every lookup while the back-office is
down. Written here (30 lines) rather than pulled in: the async breaker libraries are unmaintained.
"""

from __future__ import annotations

import time
from typing import Callable


class CircuitBreaker:
    """Stops calling a failing back-office for ``reset_s`` after ``failures`` failures in a row."""

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic):
        self.threshold = failures
        self.reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # half-open: one request is trying

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.reset_s else "open"

    def allow(self) -> bool:
        """May a request go out now? In half-open state only one trial goes at a time."""
        st = self.state
        if st == "closed":
            return True
        if st == "half_open" and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self._failures, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        self._failures += 1
        self._trial = False
        if self._opened_at is not None or self._failures >= self.threshold:
            self._opened_at = self._clock()
