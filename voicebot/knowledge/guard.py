"""Grounding guard: an answer may only state figures that the passages used contain.

Every amount, number, date, percentage and phone number of the answer is normalised
(`figures.keys`) and must appear among the passages' figures. The answer is also refused when it
repeats a stretch of the system prompt (prompt extraction).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.knowledge import figures
from voicebot.french.text import fold, stems


@dataclass
class GuardResult:
    """The grounding guard's verdict on one sentence."""

    ok: bool
    unsupported: list[str] = field(default_factory=list)
    leaked_prompt: bool = False
    support: float = 1.0  # share of the sentence's content words found in the passages


class GroundingGuard:
    """Checks answer sentences against the passages used.

    Besides figures, a sentence must draw at least `min_support` of its content words (stems) from
    the passages: a small model's off-topic or invented prose is refused too.
    """

    def __init__(self, passages: list[str], system_prompt: str = "", min_support: float = 0.5) -> None:
        self.allowed = set().union(*(figures.keys(p) for p in passages)) if passages else set()
        self._passage_stems = set().union(*(stems(p) for p in passages)) if passages else set()
        self._prompt_shingles = _shingles(system_prompt, 8) if system_prompt else set()
        self.min_support = min_support

    def check(self, text: str) -> GuardResult:
        unsupported = [f.text for f in figures.extract(text) if f.key not in self.allowed]
        leaked = bool(self._prompt_shingles & _shingles(text, 8))
        words = [w for w in stems(text) if not w.isdigit()]
        support = sum(w in self._passage_stems for w in words) / len(words) if words else 1.0
        return GuardResult(ok=not unsupported and not leaked and support >= self.min_support,
                           unsupported=list(dict.fromkeys(unsupported)), leaked_prompt=leaked, support=support)


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = fold(text).split()
    return {tuple(words[i:i + n]) for i in range(max(0, len(words) - n + 1))}
