"""MonitorContext: what the monitor needs from the rest of the worker (given by the app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.calls.bus import EventBus
from voicebot.calls.control import CallControlRegistry
from voicebot.calls.settings import CallsSettings
from voicebot.calls.store import CallStore
from voicebot.monitor.auth import LoginLimiter
from voicebot.monitor.live import LiveBoard
from voicebot.monitor.settings import MonitorSettings


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

    async def start(self) -> None:
        """Start the live board (mount() arranges this in the app's lifespan)."""
        if self.board is None:
            self.board = LiveBoard(self.store, self.bus)
        await self.board.start()

    async def stop(self) -> None:
        if self.board is not None:
            await self.board.stop()
