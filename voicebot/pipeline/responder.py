"""The answer step: a caller transcript in, speakable pieces of the bot's answer out (SpeakFrames).

Streams the answerer's text and cuts it into sentences (and a first clause) as soon as they are complete,
so speech starts before the answer is finished. A failing or silent LLM gives a spoken apology and the
call goes on. Asking for a person (in words, or DTMF 0) leads to a transfer instead of an answer.
"""

from __future__ import annotations

import asyncio
import logging

from pipecat.frames.frames import Frame, InputDTMFFrame, InterruptionFrame, VADUserStartedSpeakingFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.llm.client import AnswerMeta, VoiceAnswerer
from voicebot.french import phrases
from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import (CallActionFrame, CallerTranscriptFrame,
                                     SpeakFrame, SpeculativeTranscriptFrame)
from voicebot.french.speech import split_speakable

log = logging.getLogger(__name__)


class Responder(FrameProcessor):
    """Turns a caller transcript into bot speech: streams the answer, cuts it into sentences, transfers on request."""

    def __init__(self, state: CallState, answerer: VoiceAnswerer, *, history_turns: int = 6,
                 first_clause: bool = True, default_queue: str = phrases.DEFAULT_QUEUE, **kwargs):
        super().__init__(**kwargs)
        self._state = state
        self._answerer = answerer
        self._history: list[dict] = []
        self._history_turns = history_turns
        self._first_clause = first_clause
        self._default_queue = default_queue
        self._not_understood = 0
        self._offered_human = False  # the last answer offered a human agent
        self._queue = default_queue  # agent queue of the current topic
        # early answer: ((segment, nbytes), text, meta, pieces queue, task) started on a speculative transcript
        self._early: tuple | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, SpeculativeTranscriptFrame):
            self._start_early(frame)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._drop_early()  # the caller goes on: that answer must never be spoken
            await self.push_frame(frame, direction)
        elif isinstance(frame, CallerTranscriptFrame):
            await self._answer(frame)
        elif isinstance(frame, InputDTMFFrame):
            await self._on_dtmf(frame)
            await self.push_frame(frame, direction)
        else:
            if isinstance(frame, InterruptionFrame):
                self._state.bot_turn = None
            await self.push_frame(frame, direction)

    async def _on_dtmf(self, frame: InputDTMFFrame) -> None:
        digit = frame.button.value
        self._state.publish("dtmf", digit=str(digit))
        if str(digit) == "0":
            await self._transfer("dtmf", turn=self._state.current_turn)

    async def _transfer(self, reason: str, turn: int) -> None:
        self._state.bot_turn = turn
        await self.push_frame(SpeakFrame(text=phrases.TRANSFER, turn=turn, kind="phrase"))
        await self.push_frame(CallActionFrame(action="transfer", reason=reason, queue=self._queue))

    def _start_early(self, frame: SpeculativeTranscriptFrame) -> None:
        self._drop_early()
        if phrases.asks_for_human(frame.text) or (self._offered_human and phrases.is_affirmative(frame.text)):
            return
        meta = AnswerMeta()
        pieces: asyncio.Queue = asyncio.Queue()
        history = self._history[-2 * self._history_turns:]

        async def produce() -> None:
            try:
                async for piece in self._answerer.stream(frame.text, history, meta):
                    pieces.put_nowait(piece)
            except Exception as e:  # handed over to the turn, which apologises
                pieces.put_nowait(e)
            pieces.put_nowait(None)

        task = asyncio.get_running_loop().create_task(produce())
        self._early = ((frame.segment, frame.nbytes), frame.text, meta, pieces, task)

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early[4].cancel()
            self._early = None

    def _take_early(self, frame: CallerTranscriptFrame):
        early, self._early = self._early, None
        if early is None:
            return None
        key, text, meta, pieces, task = early
        if key == (frame.segment, frame.nbytes) and text == frame.text:
            return meta, pieces
        task.cancel()
        return None

    async def _stream(self, frame: CallerTranscriptFrame, meta: AnswerMeta):
        """The answer's pieces: from the early answer started during the pause if it matches, else now."""
        early = self._take_early(frame)
        if early is None:
            async for piece in self._answerer.stream(frame.text, self._history[-2 * self._history_turns:], meta):
                yield piece
            return
        early_meta, pieces = early
        while (piece := await pieces.get()) is not None:
            if isinstance(piece, Exception):
                raise piece
            meta.retrieved_at = early_meta.retrieved_at
            yield piece
        meta.__dict__.update(early_meta.__dict__)

    async def _answer(self, frame: CallerTranscriptFrame) -> None:
        st = self._state
        turn = st.turn(frame.turn)
        offered, self._offered_human = self._offered_human, False
        if phrases.asks_for_human(frame.text) or (offered and phrases.is_affirmative(frame.text)):
            turn.bot_text.append(phrases.TRANSFER)
            await self._transfer("caller_request" if not offered else "no_answer", frame.turn)
            return
        st.bot_turn = frame.turn
        st.publish("state", state="thinking")
        meta = AnswerMeta()
        buffer, spoken, first = "", [], True
        try:
            async for piece in self._stream(frame, meta):
                if first:
                    if meta.retrieved_at is not None:  # on the critical path only after the final transcript
                        turn.mark("retrieval", max(meta.retrieved_at, turn.marks.get("stt_final", 0.0)))
                    turn.mark("llm_first_token")
                buffer += piece
                ready, buffer = split_speakable(buffer, first_clause=first and self._first_clause)
                for chunk in ready:
                    first = False
                    spoken.append(chunk)
                    await self._say(chunk, frame.turn, last=False)
            tail = buffer.strip()
            if tail:
                spoken.append(tail)
                await self._say(tail, frame.turn, last=True)
            elif spoken:
                await self.push_frame(SpeakFrame(text="", turn=frame.turn, last=True))
        except Exception as e:  # any answerer failure (AnswerError and others): apologise, the call goes on
            log.warning("answer failed: %s", e, extra={"call_id": st.call_id})
            st.publish("error", stage="llm", message=str(e))
            turn.guard = "llm_error"
            spoken = [phrases.LLM_APOLOGY]
            await self._say(phrases.LLM_APOLOGY, frame.turn, last=True, kind="phrase")
        finally:
            # What was said (or started) is history; an interrupted answer is not said again.
            turn.sources = meta.sources
            turn.guard = turn.guard or meta.guard
            self._history += [{"role": "user", "content": frame.text},
                              {"role": "assistant", "content": " ".join(spoken) or "…"}]
        if not spoken:
            self._not_understood += 1
            await self._say(phrases.NOT_UNDERSTOOD, frame.turn, last=True, kind="phrase")
        if meta.queue:
            self._queue = phrases.QUEUE_OF_TOPIC.get(meta.queue, self._default_queue)
        self._offered_human = meta.offer_human
        if meta.transfer:
            await self.push_frame(CallActionFrame(action="transfer", reason="no_answer", queue=self._queue))

    async def _say(self, text: str, turn: int, *, last: bool, kind: str = "answer") -> None:
        t = self._state.turn(turn)
        t.mark("tts_first_sentence")
        t.bot_text.append(text)
        self._state.publish("bot_text", text=text, turn=turn)
        await self.push_frame(SpeakFrame(text=text, turn=turn, kind=kind, last=last))
