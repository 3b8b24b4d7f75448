"""Word error rate for French transcripts, after the normalisation a fair comparison needs.

Lower case, accents kept, punctuation and apostrophes split off, digits left as they are (the caller
transcript and the reference are compared as Whisper and people write them).
"""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def normalise_words(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text.lower()).replace("’", "'").replace("-", " ")
    text = _PUNCT.sub(" ", text)
    return text.split()


def wer(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words / number of reference words."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return word_edits(ref, hyp) / len(ref)


def word_edits(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions, deletions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]
