"""Supervisor alerts computed from one call's events.

Asked for a person, not understood twice, long silence, anger words. Pure logic, fed event by event by
the recorder of the call's worker.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from voicebot.events import CallEvent

ALERT_MESSAGES = {
    "person_requested": "L'appelant demande à parler à une personne",
    "not_understood": "Le bot n'a pas compris deux fois",
    "long_silence": "Long silence",
    "anger": "L'appelant semble en colère",
}

_PERSON_RE = re.compile(
    r"\b(parler|passer|joindre|avoir|transferer|mettre en relation)\b.{0,40}\b(conseill|personne|humain|agent|"
    r"operat|quelqu.un|vrai|standard|responsable)|\b(un|une|le|la) (conseiller|conseillere|humain|operateur|"
    r"operatrice)\b",
)
NOT_UNDERSTOOD_GUARDS = {"no_answer", "not_understood", "refused", "unanswerable", "empty", "fallback"}
_NOT_UNDERSTOOD_BOT_RE = re.compile(r"(pas (bien )?compris|pouvez-vous reformuler|pas trouve|je ne sais pas)")


def fold(text: str) -> str:
    """Lower case without accents, to match spoken words however the STT wrote them."""
    norm = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in norm if not unicodedata.combining(ch)).replace("’", "'")


@dataclass
class AlertDetector:
    """Raises each alert kind at most once per call (a supervisor needs one signal, not a flood)."""

    long_silence_s: float = 8.0
    anger_words: list[str] = field(default_factory=list)
    raised: set[str] = field(default_factory=set)
    not_understood: int = 0

    def __post_init__(self) -> None:
        words = [re.escape(fold(w)) for w in self.anger_words if w.strip()]
        self._anger_re = re.compile(r"\b(" + "|".join(words) + r")\b") if words else None

    def feed(self, event: CallEvent) -> list[tuple[str, str]]:
        """Alerts (kind, French message) newly raised by this event."""
        found: list[str] = []
        d = event.data
        if event.type == "transcript_final":
            text = fold(str(d.get("text", "")))
            if _PERSON_RE.search(text):
                found.append("person_requested")
            if self._anger_re and self._anger_re.search(text):
                found.append("anger")
        elif event.type == "turn":
            guard = str(d.get("guard") or "").lower()
            bot = fold(str(d.get("bot_text", "")))
            if guard in NOT_UNDERSTOOD_GUARDS or _NOT_UNDERSTOOD_BOT_RE.search(bot):
                self.not_understood += 1
                if self.not_understood >= 2:
                    found.append("not_understood")
        elif event.type == "silence":
            if float(d.get("seconds") or 0) >= self.long_silence_s:
                found.append("long_silence")
        elif event.type == "transfer" and d.get("reason") in ("caller_request", "dtmf"):
            found.append("person_requested")
        new = [k for k in found if k not in self.raised]
        self.raised.update(new)
        return [(k, ALERT_MESSAGES[k]) for k in new]
