"""French text helpers: accent folding, Snowball stemming, sentence split.

Stemming uses PyPI `snowballstemmer` (French); the same analysis feeds the SQLite FTS5 index,
the PostgreSQL index and the queries, so both stores see identical terms.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[\w']+", re.UNICODE)
# Frequent French function words; removing them keeps lexical scores about content.
STOPWORDS = frozenset(
    """a à au aux avec ce ces cet cette c ca ça d de des du elle en et est il ils j je l la le les leur lui
    m ma mais me mes moi mon n ne nos notre nous on ou où par pas pour qu que qui s sa se ses si son sur
    t ta te tes toi ton tu un une vos votre vous y est sont ai as avez avons ont été etre être fait faire
    dois doit peux peut veux voudrais voudrait bonjour merci madame monsieur alors euh ben bah donc oui non
    combien quel quelle quels quelles comment quand est-ce svp plait plaît dire savoir""".split()
)


def fold(text: str) -> str:
    """Lowercase and strip accents (é→e, œ→oe) so spelling variants match."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae").replace("’", "'")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("french")


def tokens(text: str) -> list[str]:
    """Folded words without elided articles (l', d', qu')."""
    out: list[str] = []
    for raw in _WORD.findall(fold(text)):
        for part in raw.split("'"):
            if part:
                out.append(part)
    return out


@lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def stems(text: str, *, drop_stopwords: bool = True) -> list[str]:
    """Stemmed, folded content words of `text` (the unit of full-text search)."""
    return [stem(t) for t in tokens(text) if not (drop_stopwords and t in STOPWORDS)]


def analyzed(text: str) -> str:
    """Text as indexed by the full-text engines: space-joined stems."""
    return " ".join(stems(text, drop_stopwords=False))


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-ÖØ-Ý«\"(])")


def sentences(text: str) -> list[str]:
    """Split a passage into sentences; Markdown bullets are sentences of their own."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"^[-*+]\s+", "", line)
        for piece in _SENTENCE_END.split(line):
            piece = piece.strip()
            if piece:
                out.append(piece)
    return out
