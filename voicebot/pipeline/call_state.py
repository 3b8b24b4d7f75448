"""Per-call state shared by the processors of one pipeline: turn clocks and the event outlet.

Latency is measured with ``time.monotonic()`` marks taken where each stage really happens; a turn's
record is published once, when its first bot audio has been written to the transport (or when the turn
ends without audio). Events leave the pipeline only through ``CallState.publish``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from pipecat.processors.frame_processor import FrameProcessor

from voicebot.french.redaction import redact_event_data
from voicebot.events import CallEvent

log = logging.getLogger(__name__)

# Order matters: it is the order of the stages, and the order the tests check.
LATENCY_MARKS = (
    "speech_end",  # last caller audio VAD judged as speech
    "turn_end",  # end of turn confirmed (silence + Smart Turn)
    "stt_final",  # final transcript ready
    "retrieval",  # knowledge passages ready (grounded answers; an early answer's retrieval counts from stt_final)
    "llm_first_token",  # first token of the answer (or first extractive sentence)
    "tts_first_sentence",  # first sentence/clause handed to TTS
    "tts_first_audio",  # first synthesized audio chunk
    "bot_audio_first",  # first bot audio frame written to the transport
)


@dataclass
class TurnTimes:
    """One caller turn: its latency marks, texts, sources and guard outcome."""

    turn: int
    marks: dict[str, float] = field(default_factory=dict)
    caller_text: str = ""
    bot_text: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    guard: str | None = None
    # The dialogue's decision for this turn (answer | clarify | transfer | hangup): the store reads a
    # clarifying question from it, to tell when a clarification failed (calls/outcomes.py).
    action: str = ""
    interrupted: bool = False
    published: bool = False

    def mark(self, name: str, t: float | None = None) -> None:
        self.marks.setdefault(name, time.monotonic() if t is None else t)

    def latency_ms(self) -> dict[str, float]:
        """Milliseconds from caller speech end to each later mark."""
        t0 = self.marks.get("speech_end")
        if t0 is None:
            return {}
        return {k: round((self.marks[k] - t0) * 1000.0, 1) for k in LATENCY_MARKS if k in self.marks}


Publisher = Callable[[CallEvent], None]


class CallState:
    """What the processors of one call share."""

    def __init__(self, call_id: str, publish: Publisher | None = None, on_turn: Callable[[dict], None] | None = None,
                 keep_raw: bool = False):
        self.call_id = call_id
        self.keep_raw = keep_raw  # calls.store_raw_text: raw texts travel beside the redacted ones
        self._publish = publish
        self._on_turn = on_turn
        self.turns: dict[int, TurnTimes] = {}
        self.current_turn = 0
        self.bot_speaking = False
        self.bot_turn: int | None = None  # turn whose answer is being spoken
        self.ended = False
        self.last_caller_activity = time.monotonic()
        self.last_bot_activity = time.monotonic()

    def new_turn(self) -> TurnTimes:
        self.current_turn += 1
        t = TurnTimes(self.current_turn)
        self.turns[t.turn] = t
        return t

    def turn(self, n: int) -> TurnTimes:
        if n not in self.turns:
            self.turns[n] = TurnTimes(n)
        return self.turns[n]

    def publish(self, type_: str, **data) -> None:
        """The one way out of the pipeline: every event is redacted here, before bus, store or client."""
        if self._publish is None:
            return
        try:
            safe = redact_event_data(type_, data, keep_raw=self.keep_raw)
            self._publish(CallEvent(self.call_id, type_, safe))  # type: ignore[arg-type]
        except Exception:  # an outlet failing must never break the call
            log.exception("event publication failed", extra={"call_id": self.call_id})

    def finish_turn(self, n: int) -> None:
        """Publish a turn's record once (log line, event, metrics hook)."""
        t = self.turns.get(n)
        if t is None or t.published or "speech_end" not in t.marks:
            return
        t.published = True
        record = {
            "call_id": self.call_id,
            "turn": t.turn,
            "caller_text": t.caller_text,
            "bot_text": " ".join(t.bot_text).strip(),
            "latency_ms": t.latency_ms(),
            "sources": t.sources,
            "guard": t.guard,
            "action": t.action,
            "interrupted": t.interrupted,
        }
        # ids, sizes and timings only: the texts go out redacted through publish(), never to the log
        log.info("turn %d", t.turn, extra={"call_id": self.call_id, "turn": t.turn,
                                           "caller_chars": len(t.caller_text),
                                           "bot_chars": len(" ".join(t.bot_text).strip()),
                                           "latency_ms": record["latency_ms"],
                                           "sources": len(t.sources), "guard": t.guard,
                                           "interrupted": t.interrupted})
        self.publish("turn", **{k: v for k, v in record.items() if k != "call_id"})
        if self._on_turn is not None:
            self._on_turn(record)


async def barge_in(processor: FrameProcessor, state: CallState) -> None:
    """The caller talks over the bot: the bot's turn is marked interrupted, the monitor told, its audio cut.

    The one barge-in sequence, used by the turn detector (long speech over the bot) and by the
    transcriber (words over the bot that are not a backchannel).
    """
    if state.bot_turn is not None:
        state.turn(state.bot_turn).interrupted = True
    state.publish("barge_in", turn=state.bot_turn or 0)
    await processor.broadcast_interruption()
    state.bot_speaking = False
