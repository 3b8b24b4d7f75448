"""What a recorded turn says about the service: how it was answered, whether its question went
unanswered (work for a document owner), which scheme it concerned and its voice-to-voice latency.

Pure functions of a turn's fields; the recorder stores their results with the turn so the service
figures are plain GROUP BY queries.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

PATHS = ("llm", "extractive", "no_answer", "guard_rejected", "error", "other")
GAP_KINDS = ("no_answer", "guard_rejected", "clarification_failed", "transferred")
_NO_ANSWER_VERDICTS = {"no_answer", "not_understood", "unanswerable", "empty", "fallback"}
_ASKED_TO_REPEAT = re.compile(r"(pas (bien )?compris|pouvez-vous (le )?(repeter|reformuler))")
_MIN_QUESTION_CHARS = 8  # "oui", "allô", "euh": not a question a document could answer


def answer_path(guard: str) -> str:
    """The turn's answer path from its `guard` field, written '<guard verdict>/<fallback or llm>'.

    llm: grounded LLM answer that passed the guard; extractive: sentences taken from the documents
    (no LLM, or LLM unavailable); guard_rejected: the LLM's answer failed the figures check and an
    extract was read instead; no_answer: nothing found; error: the LLM failed and an apology was read.
    """
    g = (guard or "").lower()
    if g == "llm_error":
        return "error"
    verdict, _, fallback = g.partition("/")
    if fallback == "no_answer" or verdict in _NO_ANSWER_VERDICTS:
        return "no_answer"
    if verdict == "rejected":
        return "guard_rejected"
    if fallback == "extractive" or verdict in ("skipped", "unavailable"):
        return "extractive"
    if verdict in ("passed", "ok"):
        return "llm"
    return "other"


def _fold(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in norm if not unicodedata.combining(ch))


def gap_kind(path: str, caller_text: str, bot_text: str) -> str | None:
    """Why this turn's question is a documentation gap, or None when it was answered."""
    if len(caller_text.strip()) < _MIN_QUESTION_CHARS:
        return None
    if path in ("no_answer", "guard_rejected"):
        return path
    if _ASKED_TO_REPEAT.search(_fold(bot_text)):
        return "clarification_failed"
    return None


def first_scheme(sources: list[Any]) -> str:
    for s in sources or []:
        if isinstance(s, dict) and s.get("scheme"):
            return str(s["scheme"])[:100]
    return ""


def voice_to_voice_ms(latency_ms: dict[str, Any]) -> float | None:
    """Caller speech end to first bot audio written (the latency a caller hears)."""
    v = (latency_ms or {}).get("bot_audio_first")
    return float(v) if isinstance(v, (int, float)) and v >= 0 else None
