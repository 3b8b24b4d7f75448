# SPDX-License-Identifier: EUPL-1.2
"""``turn`` events for the caller, from a stock pipeline, without adding anything to the pipeline.

The caller (``voicebot.telephony.caller``) waits for ``{"event": "turn", "turn": n, "caller_text": ...,
"bot_text": ...}`` after each question. This observer builds it from what pipecat already exposes: the
user aggregator's ``on_user_turn_stopped`` (the caller's text), the LLM's text frames, and the output
transport's ``BotStartedSpeakingFrame``. The event leaves when the bot starts speaking the answer, or when
the LLM finishes if that comes later, so that ``bot_text`` is complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
)
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameProcessor

EventSender = Callable[[dict], None]


@dataclass
class _PendingTurn:
    caller_text: str
    bot_text: str = ""
    llm_done: bool = False
    bot_speaking: bool = False


class TurnEventObserver(BaseObserver):
    """Sends one ``turn`` event per answered caller turn."""

    def __init__(self, llm: FrameProcessor, send: EventSender):
        super().__init__(observe_every_push=False)
        self._llm = llm
        self._send = send
        self._turns = 0
        self._pending: _PendingTurn | None = None

    async def on_user_turn_stopped(self, aggregator, strategy, message) -> None:
        """Handler for the user aggregator's ``on_user_turn_stopped`` event."""
        text = (message.content or "").strip()
        if text:
            self._pending = _PendingTurn(caller_text=text)

    async def on_push_frame(self, data: FramePushed) -> None:
        turn, frame = self._pending, data.frame
        if turn is None:
            return
        if data.source is self._llm and isinstance(frame, LLMTextFrame):
            turn.bot_text += frame.text
        elif data.source is self._llm and isinstance(frame, LLMFullResponseEndFrame):
            turn.llm_done = True
        elif isinstance(frame, BotStartedSpeakingFrame) and turn.bot_text:
            turn.bot_speaking = True  # the answer's audio, not the end of an earlier utterance
        else:
            return
        if turn.llm_done and turn.bot_speaking:
            self._pending = None
            self._turns += 1
            self._send({"event": "turn", "turn": self._turns, "caller_text": turn.caller_text,
                        "bot_text": turn.bot_text.strip()})
