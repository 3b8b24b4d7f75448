"""Caller turns: Silero VAD + Smart Turn v3 decide when the caller has finished; barge-in policy.

Why our own processor rather than pipecat's user aggregator strategies: on the phone we need the exact
moment the caller's speech ended (the start of every latency figure), the audio of the whole turn for a
segmented Whisper, and a barge-in rule that lets backchannels ("oui", "hm") pass without cutting the bot.
The models themselves are pipecat's (SileroVADAnalyzer, LocalSmartTurnAnalyzerV3), loaded once per process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Any

from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.config import PipelineSettings
from voicebot.pipeline.call_state import CallState, barge_in
from voicebot.pipeline.frames import CallerTurnFrame, SpeculativeTurnFrame

log = logging.getLogger(__name__)

PRE_ROLL_S = 0.3  # audio kept before VAD confirms speech, so the first syllable is not lost
# Silence kept after the last speech frame for Whisper. The speculative transcript (same audio) cannot start
# before this much of the pause has passed, so every millisecond here is a millisecond on every answer.
TAIL_S = 0.1

_smart_turn_lock = threading.Lock()
_smart_turn_session: Any = None  # onnxruntime.InferenceSession, loaded by the first SharedSmartTurn

# The private parts of pipecat's Smart Turn that SharedSmartTurn relies on, and nothing else in voicebot
# does: tests/integration/test_pipecat_adapter.py fails, naming the part, when a pipecat release moves one.
PIPECAT_PRIVATE = ("_session", "_log_data", "_audio_buffer", "_model_executor", "_process_speech_segment",
                   "_predict_endpoint")
# What SharedSmartTurn adds to pipecat's analyzer (the adapter test allows exactly these).
ADAPTER_ATTRIBUTES = ("completion_threshold",)


class SharedSmartTurn(LocalSmartTurnAnalyzerV3):
    """Smart Turn v3 whose ONNX session is loaded once per process and shared by every call.

    The one adapter over pipecat internals (``PIPECAT_PRIVATE``): pipecat's analyzer loads its model in
    ``__init__`` and predicts on its own buffer only at the end of a turn; we share the session and predict
    early, during a pause, on a snapshot of the buffer.
    """

    def __init__(self, *, params: SmartTurnParams, sample_rate: int, completion_threshold: float = 0.5):
        global _smart_turn_session
        self.completion_threshold = completion_threshold
        with _smart_turn_lock:
            if _smart_turn_session is None:
                LocalSmartTurnAnalyzerV3.__init__(self, params=params, sample_rate=sample_rate)
                _smart_turn_session = self._session
                return
        # Skip the model load of LocalSmartTurnAnalyzerV3.__init__: set up the base class only.
        super(LocalSmartTurnAnalyzerV3, self).__init__(params=params, sample_rate=sample_rate)
        self._log_data = False
        self._session = _smart_turn_session

    def _predict_endpoint(self, audio_array: Any) -> dict[str, Any]:
        """The model's prediction (pipecat's code), with our threshold on its probability instead of its fixed 0.5."""
        result = super()._predict_endpoint(audio_array)
        result["prediction"] = 1 if result["probability"] > self.completion_threshold else 0
        return result

    def predict_soon(self) -> asyncio.Future:
        """Start the end-of-turn prediction on the audio so far, without touching the analyzer's state."""
        snapshot = list(self._audio_buffer)
        return asyncio.get_running_loop().run_in_executor(self._model_executor, self._process_speech_segment, snapshot)


class TurnDetector(FrameProcessor):
    """Turns caller audio into CallerTurnFrames; interrupts the bot when the caller really talks over it."""

    def __init__(self, state: CallState, settings: PipelineSettings, *, sample_rate: int = 16000, **kwargs):
        super().__init__(**kwargs)
        self._state = state
        self._s = settings
        self._rate = sample_rate
        self._vad = SileroVADAnalyzer(
            sample_rate=sample_rate,
            params=VADParams(confidence=settings.vad_confidence, start_secs=settings.vad_start_s,
                             stop_secs=settings.vad_stop_s, min_volume=0.0),
        )
        self._vad.set_sample_rate(sample_rate)
        self._turn = (
            SharedSmartTurn(params=SmartTurnParams(stop_secs=settings.max_turn_wait_s), sample_rate=sample_rate,
                            completion_threshold=settings.smart_turn_threshold)
            if settings.smart_turn else None
        )
        if self._turn is not None:
            self._turn.set_sample_rate(sample_rate)
        self._preroll: deque[bytes] = deque(maxlen=max(1, int(PRE_ROLL_S / 0.02)))
        self._segment: list[bytes] | None = None  # audio of the turn being collected
        self._in_speech = False
        self._speech_started = 0.0
        self._last_speech = 0.0
        self._last_speech_bytes = 0  # length of the segment at the last speech frame
        self._during_bot = False
        self._interrupted = False
        self._pending: asyncio.Task | None = None  # waits for an incomplete turn to be completed
        self._segment_id = 0
        self._speculated_at = -1  # _last_speech_bytes when speculative audio was last sent
        self._turn_guess: tuple[int, asyncio.Future] | None = None  # Smart Turn run during the pause

    # -- frame routing -------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self._on_audio(frame)
            return  # raw caller audio stops here: nothing downstream needs it
        if isinstance(frame, BotStartedSpeakingFrame):
            self._on_bot_started()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._on_bot_stopped()
        elif isinstance(frame, EndFrame):
            self._cancel_pending()
        await self.push_frame(frame, direction)

    def _on_bot_started(self) -> None:
        st = self._state
        st.bot_speaking = True
        st.last_bot_activity = time.monotonic()
        if st.bot_turn is not None:
            st.turn(st.bot_turn).mark("bot_audio_first")
            st.finish_turn(st.bot_turn)
        st.publish("state", state="speaking")

    def _on_bot_stopped(self) -> None:
        st = self._state
        st.bot_speaking = False
        st.last_bot_activity = time.monotonic()
        st.publish("state", state="listening")

    # -- audio -----------------------------------------------------------------------------------

    async def _on_audio(self, frame: InputAudioRawFrame) -> None:
        if frame.sample_rate != self._rate:
            log.warning("dropping audio at %d Hz (pipeline runs at %d Hz)", frame.sample_rate, self._rate)
            return
        audio = frame.audio
        vad_state = await self._vad.analyze_audio(audio)
        now = time.monotonic()
        speaking = vad_state in (VADState.STARTING, VADState.SPEAKING)
        if self._segment is None:
            self._preroll.append(audio)
        else:
            self._segment.append(audio)
            if self._turn is not None:
                if self._turn.append_audio(audio, speaking) == EndOfTurnState.COMPLETE and not self._in_speech:
                    await self._emit_turn("silence")
                    return

        if vad_state == VADState.SPEAKING:
            if not self._in_speech:
                await self._on_speech_start(now)
            self._last_speech = now
            self._last_speech_bytes = sum(map(len, self._segment or []))
            self._state.last_caller_activity = now
            await self._maybe_barge_in(now)
        elif vad_state == VADState.QUIET and self._in_speech:
            await self._on_speech_stop()
        # The tail of silence must be in the segment too (audio time, not wall-clock time: frames that arrive
        # late on a busy machine would otherwise give a speculative turn shorter than the final one).
        if (self._s.speculative_stt and self._segment is not None and self._last_speech_bytes
                and self._speculated_at != self._last_speech_bytes and vad_state != VADState.SPEAKING
                and now - self._last_speech >= self._s.speculative_after_s
                and sum(map(len, self._segment)) - self._last_speech_bytes >= int(TAIL_S * self._rate) * 2):
            await self._speculate()

    async def _on_speech_start(self, now: float) -> None:
        self._in_speech = True
        self._cancel_pending()
        if self._segment is None:  # a new turn (else: the caller resumed an incomplete turn)
            self._segment_id += 1
            self._speculated_at = -1
            self._segment = list(self._preroll)
            self._preroll.clear()
            self._speech_started = now - self._s.vad_start_s
            self._during_bot = self._state.bot_speaking
            self._interrupted = False
            if self._turn is not None:
                self._turn.clear()
                for chunk in self._segment:
                    self._turn.append_audio(chunk, True)
        await self.push_frame(VADUserStartedSpeakingFrame(start_secs=self._s.vad_start_s))
        self._state.publish("state", state="caller_speaking")

    async def _maybe_barge_in(self, now: float) -> None:
        st = self._state
        if not (self._s.barge_in and st.bot_speaking and self._during_bot and not self._interrupted):
            return
        if now - self._speech_started < self._s.barge_in_min_s:
            return  # maybe a backchannel: let the bot go on
        await self.interrupt_bot()

    async def interrupt_bot(self) -> None:
        """Stop the bot's audio now and drop what it had queued (barge-in)."""
        self._interrupted = True
        self._during_bot = False
        log.info("barge-in", extra={"call_id": self._state.call_id})
        await barge_in(self, self._state)

    async def _on_speech_stop(self) -> None:
        self._in_speech = False
        await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=self._s.vad_stop_s))
        if self._turn is None:
            await self._emit_turn("silence")
            return
        guess, self._turn_guess = self._turn_guess, None
        if guess is not None and guess[0] == self._last_speech_bytes:
            state, _ = await guess[1]  # predicted during the pause, on the same speech
        else:
            state, _ = await self._turn.analyze_end_of_turn()
        if state == EndOfTurnState.COMPLETE:
            await self._emit_turn("smart_turn")
        else:
            # Incomplete: give the caller time to go on; the fallback fires if they do not.
            wait = max(0.0, self._s.max_turn_wait_s - self._s.vad_stop_s)
            self._pending = asyncio.create_task(self._complete_after(wait))

    async def _complete_after(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return
        self._pending = None
        if self._segment is not None and not self._in_speech:
            await self._emit_turn("timeout")

    def _cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def _turn_audio(self) -> bytes:
        """The segment up to the last speech frame plus a short tail of silence."""
        audio = b"".join(self._segment or [])
        keep = self._last_speech_bytes + int(TAIL_S * self._rate) * 2
        return audio[: keep - keep % 2]

    async def _speculate(self) -> None:
        self._speculated_at = self._last_speech_bytes
        if self._turn is not None:  # Smart Turn's verdict too, so it is ready when the silence is long enough
            self._turn_guess = (self._last_speech_bytes, self._turn.predict_soon())
        await self.push_frame(SpeculativeTurnFrame(audio=self._turn_audio(), sample_rate=self._rate,
                                                   segment=self._segment_id, nbytes=self._last_speech_bytes))

    async def _emit_turn(self, why: str) -> None:
        self._cancel_pending()
        audio = self._turn_audio()
        self._segment = None
        if self._turn is not None:
            self._turn.clear()
        st = self._state
        t = st.new_turn()
        t.mark("speech_end", self._last_speech)
        t.mark("turn_end")
        during_bot = self._during_bot and st.bot_speaking
        log.debug("turn %d ended (%s), %.2f s of audio", t.turn, why, len(audio) / 2 / self._rate)
        await self.push_frame(CallerTurnFrame(audio=audio, sample_rate=self._rate, turn=t.turn, during_bot=during_bot,
                                              segment=self._segment_id, nbytes=self._last_speech_bytes))

    async def cleanup(self):
        self._cancel_pending()
        await super().cleanup()
