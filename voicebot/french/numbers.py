"""Numbers as French speakers say them and speech-to-text writes them: one grammar for every reader.

The dossier flow (``voicebot.backoffice.spoken``) turns what a caller said into digits with it, and
redaction (``voicebot.french.redaction``) uses the same runs to mask a dossier number said in words, so
what the flow understands is exactly what redaction hides.

A spoken number is a run of *groups* ("cent vingt-trois" is one group, "zéro zéro zéro" three): each
group is parsed by French number grammar and the groups' digits are concatenated. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

UNITS = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
         "neuf": 9}
TEENS = {"dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16}
TENS = {"vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
        "septante": 70, "huitante": 80, "octante": 80, "nonante": 90}
ZERO = {"zero", "zéro", "o"}
HUNDRED = {"cent", "cents"}
THOUSAND = {"mille", "mil"}
# Letters as French speakers name them, as speech-to-text may write them.
LETTER_NAMES = {"i": "I", "dé": "D", "de": "D", "d": "D", "effe": "F", "ef": "F", "f": "F", "èf": "F"}

# A word (apostrophes kept: "c'est" is one token), a run of digits, or a keypad symbol. Hyphens, spaces
# and punctuation separate tokens ("vingt-trois" is two words).
_TOKEN_RE = re.compile(r"[a-zàâäéèêëîïôöùûüç']+|\d+|[#*]", re.IGNORECASE)


class _Group:
    """One spoken number being built ("deux mille vingt-cinq")."""

    def __init__(self) -> None:
        self.high = 0  # thousands already closed
        self.low = 0  # below a thousand
        self.last = ""  # kind of the last word: unit, teen, tens, hundred, thousand
        self.last_value = 0
        self.words = 0

    def value(self) -> int:
        return self.high + self.low

    def accepts(self, kind: str, v: int) -> bool:
        if self.words == 0:
            return True
        lo, last = self.low % 100, self.last
        if kind == "unit":
            return (last in ("hundred", "thousand") and lo == 0) or last == "tens" or (
                last == "teen" and self.last_value == 10 and v >= 7 and lo in (10, 70, 90))
        if kind == "teen":
            return (last in ("hundred", "thousand") and lo == 0) or (last == "tens" and lo in (60, 80))
        if kind == "tens":
            if v == 20 and last == "unit" and self.last_value == 4 and self.low % 100 == 4:
                return True  # quatre-vingt
            return last in ("hundred", "thousand") and lo == 0
        if kind == "hundred":
            return last == "unit" and self.low < 10 and self.last_value >= 2 or (last == "thousand" and self.low == 0)
        if kind == "thousand":
            return self.high == 0 and last != "thousand"
        return False

    def add(self, kind: str, v: int) -> None:
        if kind == "tens" and v == 20 and self.last == "unit" and self.last_value == 4:
            self.low += 76  # quatre (4) + 76 = 80
        elif kind == "hundred":
            self.low = (self.low or 1) * 100
        elif kind == "thousand":
            self.high, self.low = (self.low or 1) * 1000, 0
        else:
            self.low += v
        self.last, self.last_value, self.words = kind, v, self.words + 1


def word_kind(word: str) -> tuple[str, int] | None:
    """('unit', 3) for "trois", ('tens', 20) for "vingt"...; None for a word that is not a number word."""
    if word in UNITS:
        return "unit", UNITS[word]
    if word in TEENS:
        return "teen", TEENS[word]
    if word in TENS:
        return "tens", TENS[word]
    if word in HUNDRED:
        return "hundred", 100
    if word in THOUSAND:
        return "thousand", 1000
    return None


def tokens(text: str) -> list[str]:
    """The lower-case words, digit runs and keypad symbols of ``text``, in order."""
    return [m.group(0).lower() for m in _token_matches(normalize(text))]


def normalize(text: str) -> str:
    """The form ``number_runs`` positions refer to: NFC, typographic apostrophes straightened."""
    return unicodedata.normalize("NFC", text or "").replace("’", "'")


def _token_matches(text: str) -> list[re.Match[str]]:
    return list(_TOKEN_RE.finditer(text))


@dataclass(frozen=True)
class NumberRun:
    """Numbers said one after the other, with nothing but spaces and punctuation between them.

    ``groups`` holds each number's digits and whether it was said in words ("zéro", "cent vingt-trois")
    rather than written in digits; ``start``/``end`` locate the run in the text it was read from.
    """

    start: int
    end: int
    groups: tuple[tuple[str, bool], ...]

    @property
    def digits(self) -> str:
        return "".join(d for d, _ in self.groups)

    @property
    def in_words(self) -> bool:
        return any(w for _, w in self.groups)


class _RunBuilder:
    """Collects the groups of the run being read; ``close`` hands the finished run over."""

    def __init__(self) -> None:
        self.runs: list[NumberRun] = []
        self.groups: list[tuple[str, bool]] = []
        self.group: _Group | None = None
        self.start = self.end = 0

    def flush_group(self) -> None:
        if self.group is not None and self.group.words:
            self.groups.append((str(self.group.value()), True))
        self.group = None

    def extend(self, m: re.Match[str], digits: str | None, kind: tuple[str, int] | None) -> None:
        """Add a token: ``digits`` for a written number or a zero, ``kind`` for a number word."""
        if not self.groups and self.group is None:
            self.start = m.start()
        self.end = m.end()
        if digits is not None:
            self.flush_group()
            self.groups.append((digits, not m.group(0).isdigit()))
            return
        assert kind is not None
        if self.group is None or not self.group.accepts(*kind):
            self.flush_group()
            self.group = _Group()
        self.group.add(*kind)

    def close(self) -> None:
        self.flush_group()
        if self.groups:
            self.runs.append(NumberRun(self.start, self.end, tuple(self.groups)))
        self.groups = []


def number_runs(text: str) -> list[NumberRun]:
    """Every run of numbers in ``text`` (NFC, apostrophes straightened: positions refer to that form).

    'I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois' has one run: 2025, 0, 0, 0, 123.
    """
    matches = _token_matches(text)
    b = _RunBuilder()
    for i, m in enumerate(matches):
        tok = m.group(0).lower()
        if tok.isdigit():
            b.extend(m, tok, None)
        elif tok in ZERO:
            b.extend(m, "0", None)
        elif tok == "et" and b.group is not None and b.group.last == "tens" and i + 1 < len(matches) \
                and matches[i + 1].group(0).lower() in ("un", "une", "onze"):
            continue  # vingt et un
        elif (kind := word_kind(tok)) is not None:
            b.extend(m, None, kind)
        else:
            b.close()
    b.close()
    return b.runs


def digits_of(text: str) -> str:
    """Every digit the caller said, in order: written digits and spoken number groups concatenated."""
    return "".join(run.digits for run in number_runs(normalize(text)))
