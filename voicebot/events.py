"""Typed call events: the one vocabulary shared by the pipeline, the call store and the monitor.

The pipeline's observers publish these; the call store, the live monitor and the handoff builder
consume them through the event bus. Nothing else crosses from the pipeline to the web side.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EventType = Literal[
    "call_started",  # data: channel ("ws-pcm" | "ws-twilio" | "sip"), caller (raw caller id), worker
    "state",  # data: state ("greeting" | "listening" | "thinking" | "speaking" | "transferring" | "ended")
    "transcript_partial",  # data: text (caller words so far, not final)
    "transcript_final",  # data: text, turn (index)
    "bot_text",  # data: text (a sentence or clause as it is sent to speech), turn
    "turn",  # data: turn, caller_text, bot_text, latency_ms {field: ms}, sources [..], guard, interrupted
    "barge_in",  # data: turn (the bot turn that was cut)
    "dtmf",  # data: digit
    "silence",  # data: seconds, action ("prompt" | "hangup")
    "transfer",  # data: queue, target, reason ("caller_request" | "dtmf" | "no_answer" | "supervisor"), status
    "error",  # data: stage, message
    "lookup",  # data: tool, outcome, dossier (masked reference), via, ms, told (what the caller heard), turn
    "call_ended",  # data: reason ("caller_hangup" | "bot_hangup" | "silence" | "max_duration" | "transfer" | "error")
    # added by the calls/monitor side (published by the recorder and the control registry):
    "alert",  # data: kind ("person_requested" | "not_understood" | "long_silence" | "anger"), message (French), turn
    "handoff",  # data: handoff_id, queue, reason, card (the handoff card as JSON)
    "control",  # data: action ("transfer" | "hangup"), queue, by (user); asks the worker holding the call to act
    "call_lost",  # data: worker, reason; the worker holding the call died: ended abnormally
]


@dataclass(frozen=True)
class CallEvent:
    """One thing that happened in one call, at one wall-clock time (epoch seconds)."""

    call_id: str
    type: EventType
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CallEvent":
        return cls(call_id=d["call_id"], type=d["type"], data=dict(d.get("data") or {}),
                   ts=float(d.get("ts", time.time())), id=d.get("id") or uuid.uuid4().hex)
