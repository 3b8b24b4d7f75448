"""The one place where multi-turn flows are registered, for calls and `voicebot chat` alike."""

from __future__ import annotations

from typing import Any

from voicebot.dialogue.flow import Flow


def build_flows(settings: Any, call_id: str = "") -> list[Flow]:
    """Flows offered to callers, in priority order (each flow adds one line here).

    One list per call or chat session (`call_id` for the flows' audit records).
    """
    flows: list[Flow] = []
    return flows
