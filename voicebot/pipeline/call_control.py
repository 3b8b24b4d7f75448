"""Call-level processors: the greeting, silence and duration watchdogs, and carrying out hang-up/transfer."""

from __future__ import annotations

import asyncio
import logging
import time

from pipecat.frames.frames import (EndFrame, Frame, StartFrame, VADUserStartedSpeakingFrame,
                                   VADUserStoppedSpeakingFrame)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.config import PipelineSettings
from voicebot.french import phrases
from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import CallActionFrame, SpeakFrame
from voicebot.call import CallSession

log = logging.getLogger(__name__)


class CallWatchdog(FrameProcessor):
    """Asks "Vous êtes toujours là ?" after a silence, then says goodbye; ends calls that run too long."""

    def __init__(self, state: CallState, settings: PipelineSettings, *, tick_s: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self._state = state
        self._s = settings
        self._tick = tick_s
        self._task: asyncio.Task | None = None
        self._prompts = 0
        self._caller_speaking = False
        self._started = time.monotonic()
        self._closing = False

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame) and self._task is None:
            self._started = time.monotonic()
            self._task = self.create_task(self._watch(), name="call-watchdog")
        elif isinstance(frame, (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame)):
            self._caller_speaking = isinstance(frame, VADUserStartedSpeakingFrame)
            self._state.last_caller_activity = time.monotonic()
            self._prompts = 0
        elif isinstance(frame, EndFrame):
            await self._stop()
        await self.push_frame(frame, direction)

    async def _watch(self) -> None:
        st, s = self._state, self._s
        while not self._closing:
            await asyncio.sleep(self._tick)
            now = time.monotonic()
            if now - self._started > s.max_call_s:
                await self._goodbye(phrases.GOODBYE_MAX_DURATION, "max_duration")
                return
            if st.bot_speaking or self._caller_speaking:
                continue
            idle = now - max(st.last_caller_activity, st.last_bot_activity)
            if idle < s.silence_timeout_s:
                continue
            if self._prompts == 0:
                self._prompts = 1
                st.last_bot_activity = now
                st.publish("silence", seconds=round(idle, 1), action="prompt")
                await self.push_frame(SpeakFrame(text=phrases.STILL_THERE, turn=st.current_turn, kind="phrase"))
            else:
                st.publish("silence", seconds=round(idle, 1), action="hangup")
                await self._goodbye(phrases.GOODBYE_SILENCE, "silence")
                return

    async def _goodbye(self, text: str, reason: str) -> None:
        self._closing = True
        await self.push_frame(SpeakFrame(text=text, turn=self._state.current_turn, kind="phrase"))
        await self.push_frame(CallActionFrame(action="hangup", reason=reason))

    async def _stop(self) -> None:
        self._closing = True
        if self._task is not None:
            await self.cancel_task(self._task)
            self._task = None

    async def cleanup(self):
        await self._stop()
        await super().cleanup()


class CallActions(FrameProcessor):
    """Last in the pipeline: hang-up and transfer happen once what was queued before them has been played."""

    def __init__(self, state: CallState, session: CallSession, *, transfer_targets: dict[str, str] | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self._state = state
        self._session = session
        self._targets = transfer_targets or {}

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, CallActionFrame) and direction == FrameDirection.DOWNSTREAM:
            await self._act(frame)
            return
        await self.push_frame(frame, direction)

    async def _act(self, frame: CallActionFrame) -> None:
        st = self._state
        if frame.action == "hangup":
            st.ended = True
            await self._session.hangup(frame.reason or "bot_hangup")
        elif frame.action == "transfer":
            target = self._targets.get(frame.queue, self._targets.get("general", ""))
            st.publish("state", state="transferring")
            ok = False
            try:
                ok = await self._session.transfer(frame.queue, target)
            except Exception as e:  # a failed transfer keeps the caller with the bot
                log.warning("transfer failed: %s", e, extra={"call_id": st.call_id})
            st.publish("transfer", queue=frame.queue, target=target, reason=frame.reason,
                       status="ok" if ok else "failed")
            if ok:
                st.ended = True
                await self._session.hangup("transfer")
            else:
                await self.push_frame(SpeakFrame(text=phrases.TRANSFER_FAILED, turn=st.current_turn, kind="phrase"),
                                      FrameDirection.UPSTREAM)
