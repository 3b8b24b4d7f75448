"""The answer step: a caller transcript in, speakable pieces of the bot's answer out (SpeakFrames).

Streams the answerer's text and cuts it into sentences (and a first clause) as soon as they are complete,
so speech starts before the answer is finished. A failing or silent LLM gives a spoken apology and the
call goes on. What to do with each utterance or keypad digit (answer, clarify, transfer, hang up, a flow's
step) is the dialogue manager's decision (voicebot.dialogue), shared with `voicebot chat`.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pipecat.frames.frames import Frame, InputDTMFFrame, InterruptionFrame, VADUserStartedSpeakingFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.dialogue.manager import DialogueManager, Reply
from voicebot.french import phrases
from voicebot.llm.client import VoiceAnswerer
from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import (CallActionFrame, CallerTranscriptFrame,
                                     SpeakFrame, SpeculativeTranscriptFrame)
from voicebot.french.speech import sayable, split_speakable

log = logging.getLogger(__name__)

DTMF_PER_S = 5.0  # a person types at most a few keys a second
DTMF_BURST = 20.0  # a card number typed fast still gets through


class TokenBucket:
    """``rate`` events per second, bursts up to ``burst``: one call's keypad flood stops here."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._last = burst, time.monotonic()

    def allow(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Responder(FrameProcessor):
    """Turns a caller transcript into bot speech: the dialogue manager decides, this streams its replies."""

    def __init__(self, state: CallState, answerer: VoiceAnswerer, *, history_turns: int = 6,
                 first_clause: bool = True, default_queue: str = phrases.DEFAULT_QUEUE,
                 first_token_timeout_s: float = 8.0, dialogue: DialogueManager | None = None, **kwargs):
        super().__init__(**kwargs)
        self._first_token_timeout_s = first_token_timeout_s
        self._state = state
        self._answerer = answerer
        # The dialogue manager decides (intents, follow-ups, clarification, flows); this streams its replies.
        self._dialogue = dialogue or DialogueManager(answerer, [], history_turns=history_turns)
        self._first_clause = first_clause
        self._default_queue = default_queue
        self._not_understood = 0
        self._queue = default_queue  # agent queue of the current topic
        # early answer: ((segment, nbytes), text, reply, pieces queue, task) started on a speculative transcript
        self._early: tuple | None = None
        self._dtmf_rate = TokenBucket(DTMF_PER_S, DTMF_BURST)
        self._dtmf_dropped = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, SpeculativeTranscriptFrame):
            await self._start_early(frame)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._drop_early()  # the caller goes on: that answer must never be spoken
            await self.push_frame(frame, direction)
        elif isinstance(frame, CallerTranscriptFrame):
            await self._answer(frame)
        elif isinstance(frame, InputDTMFFrame):
            if await self._on_dtmf(frame):
                await self.push_frame(frame, direction)
        else:
            if isinstance(frame, InterruptionFrame):
                self._state.bot_turn = None
            await self.push_frame(frame, direction)

    async def _on_dtmf(self, frame: InputDTMFFrame) -> bool:
        """Publish a keypad digit and hand it to the dialogue; False when the keypad rate is exceeded."""
        if not self._dtmf_rate.allow():
            self._dtmf_dropped += 1
            if self._dtmf_dropped == 1:
                log.warning("keypad flood: digits over %g/s dropped", self._dtmf_rate.rate,
                            extra={"call_id": self._state.call_id})
            return False
        digit = frame.button.value
        self._state.publish("dtmf", digit=str(digit))
        reply = await self._dialogue.dtmf(str(digit))
        if reply is not None:
            await self._fixed_reply(reply, self._state.current_turn)
        return True

    async def _transfer(self, reason: str, turn: int, speech: str = phrases.TRANSFER) -> None:
        self._state.bot_turn = turn
        await self.push_frame(SpeakFrame(text=speech, turn=turn, kind="phrase"))
        await self.push_frame(CallActionFrame(action="transfer", reason=reason, queue=self._queue))

    async def _start_early(self, frame: SpeculativeTranscriptFrame) -> None:
        self._drop_early()
        if not self._dialogue.wants_early(frame.text):
            return
        reply = await self._dialogue.respond(frame.text)
        if reply.pieces is None:
            return
        pieces: asyncio.Queue = asyncio.Queue()
        stream = reply.pieces

        async def produce() -> None:
            try:
                async for piece in stream:
                    pieces.put_nowait(piece)
            except Exception as e:  # handed over to the turn, which apologises
                pieces.put_nowait(e)
            pieces.put_nowait(None)

        task = asyncio.get_running_loop().create_task(produce())
        self._early = ((frame.segment, frame.nbytes), frame.text, reply, pieces, task)

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early[4].cancel()
            self._early = None

    def _take_early(self, frame: CallerTranscriptFrame):
        early, self._early = self._early, None
        if early is None:
            return None
        key, text, reply, pieces, task = early
        if key == (frame.segment, frame.nbytes) and text == frame.text:
            return reply, pieces
        task.cancel()
        return None

    async def _stream(self, reply: Reply, early_pieces: asyncio.Queue | None):
        """The answer's pieces, the first within llm.first_token_timeout_s whatever the answerer.

        Else TimeoutError, hence the spoken apology: the caller never waits on a hung LLM longer than that.
        """
        pieces = self._stream_any(reply, early_pieces).__aiter__()
        try:
            first = await asyncio.wait_for(pieces.__anext__(), self._first_token_timeout_s)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            await pieces.aclose()
            raise TimeoutError(f"no answer within {self._first_token_timeout_s:g} s") from None
        yield first
        async for piece in pieces:
            yield piece

    async def _stream_any(self, reply: Reply, early_pieces: asyncio.Queue | None):
        """The answer's pieces: from the early answer started during the pause if it matches, else now."""
        if early_pieces is None:
            assert reply.pieces is not None  # no early answer: the reply streams its own pieces
            async for piece in reply.pieces:
                yield piece
            return
        while (piece := await early_pieces.get()) is not None:
            if isinstance(piece, Exception):
                raise piece
            yield piece

    async def _fixed_reply(self, reply: Reply, turn_no: int) -> None:
        """A reply with a fixed sentence: transfer, goodbye, clarification, repeat, a flow's step."""
        turn = self._state.turn(turn_no)
        turn.guard = turn.guard or f"dialogue/{reply.intent}"
        turn.action = reply.action
        if reply.meta.sources:
            turn.sources = reply.meta.sources
        for src in reply.meta.sources:  # a flow's back-office lookup (redacted audit): live and in the records
            if src.get("flow") and src.get("tool"):
                self._state.publish("lookup", turn=turn_no, **{k: v for k, v in src.items() if k != "flow"})
        reply.commit([reply.speech] if reply.speech else [])
        if reply.action == "transfer":
            turn.bot_text.append(reply.speech)
            await self._transfer(reply.reason or "caller_request", turn_no, reply.speech or phrases.TRANSFER)
            return
        self._state.bot_turn = turn_no
        if reply.speech:
            await self._say(reply.speech, turn_no, last=True, kind="phrase")
        if reply.action == "hangup":
            self._state.publish("state", state="hanging_up")
            await self.push_frame(CallActionFrame(action="hangup", reason=reply.reason or "goodbye"))

    async def _answer(self, frame: CallerTranscriptFrame) -> None:
        st = self._state
        turn = st.turn(frame.turn)
        early = self._take_early(frame)
        reply, early_pieces = early if early else (await self._dialogue.respond(frame.text), None)
        if reply.pieces is None:
            await self._fixed_reply(reply, frame.turn)
            return
        st.bot_turn = frame.turn
        turn.action = reply.action
        st.publish("state", state="thinking")
        meta = reply.meta
        buffer, spoken, first = "", [], True
        try:
            async for piece in self._stream(reply, early_pieces):
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
            reply.commit(spoken)
        if not any(sayable(s) for s in spoken):
            # Nothing sayable ("…" alone from the LLM): silence here left a caller waiting a whole minute,
            # until the silence prompt, in the 4-call benchmark.
            self._not_understood += 1
            await self._say(phrases.NOT_UNDERSTOOD, frame.turn, last=True, kind="phrase")
        if meta.queue:
            self._queue = phrases.QUEUE_OF_TOPIC.get(meta.queue, self._default_queue)
        if meta.transfer:
            await self.push_frame(CallActionFrame(action="transfer", reason="no_answer", queue=self._queue))

    async def _say(self, text: str, turn: int, *, last: bool, kind: str = "answer") -> None:
        t = self._state.turn(turn)
        t.mark("tts_first_sentence")
        t.bot_text.append(text)
        self._state.publish("bot_text", text=text, turn=turn)
        await self.push_frame(SpeakFrame(text=text, turn=turn, kind=kind, last=last))
