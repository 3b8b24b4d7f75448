"""The STT step of the pipeline: a caller turn's audio in, one guarded French transcript out."""

from __future__ import annotations

import asyncio
import logging

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipeline.call_state import CallState, barge_in
from voicebot.pipeline.frames import (CallerTranscriptFrame, CallerTurnFrame, SpeculativeTranscriptFrame,
                                     SpeculativeTurnFrame)
from voicebot.french.phrases import is_backchannel
from voicebot.stt.guard import TranscriptGuard
from voicebot.stt.scheduler import STTShed
from voicebot.stt.whisper import WhisperEngine

log = logging.getLogger(__name__)


class WhisperSTT(FrameProcessor):
    """Transcribes each CallerTurnFrame with the shared Whisper model, then applies the guard.

    A turn spoken over the bot that turns out to be a backchannel ("oui", "d'accord") is dropped: the bot
    goes on. Any other words spoken over the bot interrupt it (if the turn detector has not already).
    """

    def __init__(self, state: CallState, engine: WhisperEngine, guard: TranscriptGuard | None = None, *,
                 early_answer: bool = False, **kwargs):
        super().__init__(**kwargs)
        self._state = state
        self._engine = engine
        self._guard = guard or TranscriptGuard()
        self._speculative: tuple[tuple[int, int], asyncio.Task] | None = None
        self._early_answer = early_answer

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, SpeculativeTurnFrame):
            self._speculate(frame)
        elif isinstance(frame, CallerTurnFrame):
            await self._transcribe(frame)
        else:
            await self.push_frame(frame, direction)

    def _speculate(self, frame: SpeculativeTurnFrame) -> None:
        """Start transcribing the audio of a pause; the final turn frame picks the result up if it matches."""
        if self._speculative is not None:
            self._speculative[1].cancel()  # its result is stale; the worker thread finishes on its own
        task = asyncio.get_running_loop().create_task(
            self._engine.transcribe_pcm16(frame.audio, frame.sample_rate, speculative=True))
        self._speculative = ((frame.segment, frame.nbytes), task)
        if self._early_answer and not self._state.bot_speaking:
            self.create_task(self._announce(task, frame), name="speculative-transcript")

    async def _announce(self, task: asyncio.Task, frame: SpeculativeTurnFrame) -> None:
        """Hand a guarded speculative transcript downstream, so the answer can start before the turn ends."""
        try:
            result = await asyncio.shield(task)
        except (asyncio.CancelledError, Exception):
            return
        verdict = self._guard.check(result.text, avg_logprob=result.avg_logprob, no_speech_prob=result.no_speech_prob,
                                    compression_ratio=result.compression_ratio, duration_s=result.duration_s)
        spec = self._speculative
        if verdict.accepted and spec is not None and spec[0] == (frame.segment, frame.nbytes):
            await self.push_frame(SpeculativeTranscriptFrame(text=verdict.text, segment=frame.segment,
                                                             nbytes=frame.nbytes))

    async def _result_for(self, frame: CallerTurnFrame):
        spec, self._speculative = self._speculative, None
        if spec is not None:
            key, task = spec
            if key == (frame.segment, frame.nbytes) and not task.cancelled():
                try:
                    return await task
                except STTShed:  # shed under load: the final transcription below does the work
                    pass
            task.cancel()
        return await self._engine.transcribe_pcm16(frame.audio, frame.sample_rate)

    async def _transcribe(self, frame: CallerTurnFrame) -> None:
        st = self._state
        turn = st.turn(frame.turn)
        try:
            result = await self._result_for(frame)
        except Exception as e:  # a failed transcription costs this turn, never the call
            log.exception("transcription failed", extra={"call_id": st.call_id})
            st.publish("error", stage="stt", message=str(e))
            return
        verdict = self._guard.check(result.text, avg_logprob=result.avg_logprob, no_speech_prob=result.no_speech_prob,
                                    compression_ratio=result.compression_ratio, duration_s=result.duration_s)
        turn.mark("stt_final")
        if not verdict.accepted:
            log.info("transcript rejected (%s): %d chars", verdict.reason, len(result.text),
                     extra={"call_id": st.call_id})
            turn.guard = f"stt:{verdict.reason}"
            return
        text = verdict.text
        if frame.during_bot and st.bot_speaking and is_backchannel(text):
            log.info("backchannel while the bot speaks: %d chars", len(text), extra={"call_id": st.call_id})
            return
        if frame.during_bot and st.bot_speaking:
            await barge_in(self, st)
        turn.caller_text = text
        st.publish("transcript_final", text=text, turn=frame.turn)
        await self.push_frame(CallerTranscriptFrame(text=text, turn=frame.turn, during_bot=frame.during_bot,
                                                    segment=frame.segment, nbytes=frame.nbytes))
