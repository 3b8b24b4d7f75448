"""Grounding guard: an answer may only say what the passages used support.

A sentence is refused, with one reason, when
- `figure`: it states an amount, number, date, percentage or phone number absent from the passages;
- `unit`: the value is there but with another unit ("80 %" in the passages, "80 euros" in the answer);
- `scheme`: it names another scheme than the one the passages are about;
- `echo`: it repeats the caller's question instead of answering it;
- `meta`: it talks about the question, the caller or the documents ("la question de l'appelant…");
- `prompt`: it repeats a stretch of the system prompt (prompt extraction);
- `support`: fewer than `min_support` of its content words come from the passages (invented prose).
Every rejection is counted by reason (`voicebot_guard_rejections_total{reason}`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prometheus_client import Counter
from rapidfuzz import fuzz

from voicebot.knowledge import figures, lexicon
from voicebot.french.text import fold, stems

REJECTIONS = Counter("voicebot_guard_rejections_total", "Answer sentences refused by the grounding guard",
                     ["reason"])
_META = re.compile(
    r"\b(la question (de l'appelant|posee|est)|l'appelant|votre question (est|etait)|les documents?( fournis)?|"
    r"le document (numero|\d)|en tant qu'(assistant|ia|intelligence)|je suis (un|une) (modele|ia|assistant)|"
    r"selon mes consignes|mes instructions|reponds? a la question|date de l'appel)\b"
)


@dataclass
class GuardResult:
    """The grounding guard's verdict on one sentence."""

    ok: bool
    unsupported: list[str] = field(default_factory=list)
    leaked_prompt: bool = False
    support: float = 1.0  # share of the sentence's content words found in the passages
    reason: str | None = None  # first failed check: figure, unit, scheme, echo, meta, prompt, support


class GroundingGuard:
    """Checks answer sentences against the passages used (and the caller's question, for echoes)."""

    def __init__(self, passages: list[str], system_prompt: str = "", min_support: float = 0.5,
                 question: str = "", schemes: set[str] | None = None, count: bool = True) -> None:
        self.allowed = set().union(*(figures.keys(p) for p in passages)) if passages else set()
        self.allowed_units: set[tuple[str, str]] = (set().union(*(figures.unit_keys(p) for p in passages))
                                                    if passages else set())
        self._passage_stems = set().union(*(stems(p) for p in passages)) if passages else set()
        self._prompt_shingles = _shingles(system_prompt, 8) if system_prompt else set()
        self.min_support = min_support
        self.question = question
        self.schemes = set(schemes or ())
        if self.schemes:  # schemes the passages themselves mention (a Navigo price in Solidarité Transport)
            for p in passages:
                self.schemes |= {s for s, _ in lexicon.detect_schemes(p, exact_only=True)}
        self.count = count

    def check(self, text: str) -> GuardResult:
        found = figures.extract(text)
        unsupported = [f.text for f in found if f.key not in self.allowed]
        wrong_unit = [f.text for f in found if f.key in self.allowed
                      and not figures.supported((f.key, f.unit), self.allowed_units)]
        leaked = bool(self._prompt_shingles & _shingles(text, 8))
        words = [w for w in stems(text) if not w.isdigit()]
        support = sum(w in self._passage_stems for w in words) / len(words) if words else 1.0
        reason = None
        if unsupported:
            reason = "figure"
        elif wrong_unit:
            reason = "unit"
        elif leaked:
            reason = "prompt"
        elif _META.search(fold(text)):
            reason = "meta"
        elif self._echoes(text):
            reason = "echo"
        elif self._other_scheme(text):
            reason = "scheme"
        elif support < self.min_support:
            reason = "support"
        if reason and self.count:
            REJECTIONS.labels(reason=reason).inc()
        return GuardResult(ok=reason is None, unsupported=list(dict.fromkeys(unsupported + wrong_unit)),
                           leaked_prompt=leaked, support=support, reason=reason)

    def _echoes(self, text: str) -> bool:
        """The sentence is mostly the caller's question said back."""
        if not self.question.strip():
            return False
        q, t = lexicon.normalise(self.question), lexicon.normalise(text)
        return bool(q) and (q in t or fuzz.token_set_ratio(q, t) >= 85 and len(t.split()) <= len(q.split()) + 4)

    def _other_scheme(self, text: str) -> bool:
        """It names a scheme (exactly) that none of the passages is about."""
        if not self.schemes:
            return False
        named = {s for s, _ in lexicon.detect_schemes(text, exact_only=True)}
        return bool(named) and not (named & self.schemes)


def _shingles(text: str, n: int) -> set[tuple[str, ...]]:
    words = fold(text).split()
    return {tuple(words[i:i + n]) for i in range(max(0, len(words) - n + 1))}
