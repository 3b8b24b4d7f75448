"""What a recorded turn says about the service: how it was answered, whether its question went unanswered (work for a document owner), whether it settled a clarifying question, which scheme it concerned and its voice-to-voice latency.

Pure functions of a turn's fields; the recorder stores their results with the turn so the service
figures are plain GROUP BY queries.
"""

from __future__ import annotations

from typing import Any, Literal

PATHS = ("llm", "extractive", "no_answer", "guard_rejected", "error", "other")
GAP_KINDS = ("no_answer", "guard_rejected", "clarification_failed", "transferred")
_NO_ANSWER_VERDICTS = {"no_answer", "not_understood", "unanswerable", "empty", "fallback"}
_MIN_QUESTION_CHARS = 8  # "oui", "allô", "euh": not a question a document could answer
ANSWERED_PATHS = ("llm", "extractive", "guard_rejected")  # the caller got an answer from the documents
# Turns that leave a clarifying question open: the caller asked to hear it again, or nothing was heard.
_STILL_CLARIFYING = ("dialogue/repeat", "dialogue/empty")
Clarification = Literal["resolved", "failed", "pending"]


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


def is_question(caller_text: str) -> bool:
    return len(caller_text.strip()) >= _MIN_QUESTION_CHARS


def gap_kind(path: str, caller_text: str) -> str | None:
    """Why this turn's question is a documentation gap, or None when it was answered.

    A failed clarification is not seen in one turn: see `asks_clarification` and `after_clarification`.
    """
    if is_question(caller_text) and path in ("no_answer", "guard_rejected"):
        return path
    return None


def asks_clarification(action: str, guard: str) -> bool:
    """The dialogue answered the caller's question with a clarifying question (its "clarify" action).

    A flow's "clarify" (asking again for a file number) is a step of a procedure, not a question the
    documentation left open.
    """
    return action == "clarify" and not (guard or "").startswith("dialogue/flow:")


def after_clarification(path: str, action: str, guard: str) -> Clarification:
    """What the caller's next turn did to an open clarifying question.

    resolved: the bot then answered from the documents; pending: the caller asked to hear it again or
    nothing was heard; failed: anything else (no answer, another clarifying question, a request for an
    adviser, a goodbye, an error). A call that ends or is transferred while it is open failed too.
    """
    if action in ("", "answer") and path in ANSWERED_PATHS:
        return "resolved"
    if (guard or "") in _STILL_CLARIFYING:
        return "pending"
    return "failed"


def first_scheme(sources: list[Any]) -> str:
    for s in sources or []:
        if isinstance(s, dict) and s.get("scheme"):
            return str(s["scheme"])[:100]
    return ""


def voice_to_voice_ms(latency_ms: dict[str, Any]) -> float | None:
    """Caller speech end to first bot audio written (the latency a caller hears)."""
    v = (latency_ms or {}).get("bot_audio_first")
    return float(v) if isinstance(v, (int, float)) and v >= 0 else None
