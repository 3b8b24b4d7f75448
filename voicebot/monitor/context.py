"""MonitorContext: what the monitor needs from the rest of the worker (given by the app)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voicebot.calls.bus import EventBus
from voicebot.calls.control import CallControlRegistry
from voicebot.calls.settings import CallsSettings
from voicebot.calls.store import CallStore
from voicebot.monitor.auth import LoginLimiter
from voicebot.monitor.live import LiveBoard
from voicebot.monitor.settings import MonitorSettings

log = logging.getLogger(__name__)


@dataclass
class MonitorContext:
    """What the monitor's routes read and act on: settings, store, bus, control registry."""

    settings: MonitorSettings
    store: CallStore
    bus: EventBus
    control: CallControlRegistry
    calls_settings: CallsSettings = field(default_factory=CallsSettings)
    board: LiveBoard | None = None  # built by mount()
    limiter: LoginLimiter | None = None  # built by mount()
    # The worker's KnowledgeService, when it has one (discrepancies, embedder, likely scheme of a question)
    knowledge: Callable[[], Any] | None = None
    # The sentence embedder that groups unanswered questions (the app hands over its knowledge embedder)
    embedder_factory: Callable[[], Any] | None = None
    clusterer: Any = None  # GapClusterer, built by mount()
    scheme_cache: dict[str, str] = field(default_factory=dict)  # gap topic label -> likely scheme

    def knowledge_service(self) -> Any:
        try:
            return self.knowledge() if self.knowledge is not None else None
        except Exception:  # a knowledge base that cannot open must not take the monitor down
            return None

    def embedder(self) -> Any:
        if self.embedder_factory is None:
            raise RuntimeError("no sentence embedder was given to the monitor: unanswered questions stay ungrouped")
        return self.embedder_factory()

    _tasks: list[asyncio.Task] = field(default_factory=list, repr=False)
    _wake: asyncio.Event | None = field(default=None, repr=False)

    async def start(self) -> None:
        """Start the live board and the grouping of unanswered questions (mount() arranges this in the
        app's lifespan)."""
        if self.board is None:
            self.board = LiveBoard(self.store, self.bus)
        await self.board.start()
        if self.clusterer is not None:
            self._wake = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._cluster_loop(), name="monitor-gaps"))

    def wake_clusterer(self) -> bool:
        """Ask for the pending questions to be grouped now (in the background); False when not running."""
        if self._wake is None:
            return False
        self._wake.set()
        return True

    async def _cluster_loop(self) -> None:
        """New questions are embedded off the request path (the model loads on first need), so the
        knowledge page never waits for it: it shows what is grouped and polls while some are pending."""
        assert self._wake is not None
        interval = self.settings.gap_cluster_interval_s or None
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            try:
                await asyncio.to_thread(self.clusterer.refresh, 5000)
            except Exception:
                log.exception("gap clustering failed")

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self.board is not None:
            await self.board.stop()
