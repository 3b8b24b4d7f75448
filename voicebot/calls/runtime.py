"""CallServices: the calls side of one worker (store, bus, control registry, recorder).

Built from settings and started/stopped with the app. The app passes them on to the monitor's
MonitorContext.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voicebot.calls.bus import EventBus, make_bus
from voicebot.calls.control import CallControlRegistry
from voicebot.calls.recorder import CallRecorder, default_worker_id
from voicebot.calls.settings import CallsSettings
from voicebot.calls.store import CallStore


@dataclass
class CallServices:
    """The calls side of one worker: store, bus, control registry and recorder."""

    settings: CallsSettings
    store: CallStore
    bus: EventBus
    control: CallControlRegistry
    recorder: CallRecorder
    worker_id: str

    @classmethod
    def build(cls, settings: CallsSettings, data_dir: Path, *, bus: EventBus | None = None,
              store: CallStore | None = None) -> "CallServices":
        worker_id = settings.worker_id or default_worker_id()
        store = store or CallStore.from_settings(settings, data_dir)
        bus = bus or make_bus(settings)
        control = CallControlRegistry(bus, worker_id)
        if settings.bus == "redis":  # listen-in to calls held by other workers
            from voicebot.calls.relay import RedisAudioRelay

            control.relay = RedisAudioRelay(settings.redis_url, settings.redis_prefix, bus)
        recorder = CallRecorder(store, bus, settings, worker_id)
        return cls(settings, store, bus, control, recorder, worker_id)

    async def start(self) -> None:
        await self.recorder.start()
        self.control.start()

    async def stop(self) -> None:
        await self.control.stop()
        if self.control.relay is not None:
            await self.control.relay.close()
        await self.recorder.stop()
        await self.bus.close()
        self.store.close()
