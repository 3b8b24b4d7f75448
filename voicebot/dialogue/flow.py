"""A multi-turn task the dialogue manager hands the conversation to (e.g. a dossier-status lookup).

The dialogue manager owns the conversation; while a flow is active every caller utterance and keypad
digit goes to it until it says it is done. Flows never import the pipeline: they see text and digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FlowAction = Literal["answer", "clarify", "transfer", "hangup"]


@dataclass(frozen=True)
class FlowReply:
    """What a flow wants said and done after one caller input."""

    speech: str  # short French sentence(s) for the caller's ear
    action: FlowAction = "answer"
    done: bool = False  # True: the flow is over, the dialogue manager takes questions again
    answer: str = ""  # display text (handoff card, chat); empty means same as speech
    audit: dict[str, Any] = field(default_factory=dict)  # redacted record of what was looked up/said


@runtime_checkable
class Flow(Protocol):
    """One multi-turn task. `detects` is cheap and pure; the rest may call services."""

    name: str

    def detects(self, text: str) -> bool:
        """True if this utterance asks for this task (e.g. "où en est mon dossier")."""

    async def start(self, text: str) -> FlowReply:
        """Begin the task from the utterance that triggered it."""

    async def on_utterance(self, text: str) -> FlowReply:
        """Next caller utterance while the flow is active."""

    async def on_dtmf(self, digits: str) -> FlowReply:
        """Keypad digits while the flow is active (one or more, '#' ends an entry)."""
