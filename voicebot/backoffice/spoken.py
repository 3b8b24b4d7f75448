"""Dossier numbers and postcodes as callers say them, and as the bot reads them back.

Speech-to-text writes "IDF 2025 000 123", "I.D.F. 2025-000123" or words ("deux mille vingt-cinq zéro
zéro zéro cent vingt-trois"); the keypad sends digits. A spoken number is a run of *groups* ("cent
vingt-trois" is one group, "zéro zéro zéro" three): each group is parsed by French number grammar and
the groups' digits are concatenated. Pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_UNITS = {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
          "neuf": 9}
_TEENS = {"dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16}
_TENS = {"vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
         "septante": 70, "huitante": 80, "octante": 80, "nonante": 90}
_ZERO = {"zero", "zéro", "o"}
_HUNDRED = {"cent", "cents"}
_THOUSAND = {"mille", "mil"}
# Letters as French speakers name them, as speech-to-text may write them.
_LETTER_NAMES = {"i": "I", "dé": "D", "de": "D", "d": "D", "effe": "F", "ef": "F", "f": "F", "èf": "F"}
_DIGIT_WORDS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")


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


def _word_kind(word: str) -> tuple[str, int] | None:
    if word in _UNITS:
        return "unit", _UNITS[word]
    if word in _TEENS:
        return "teen", _TEENS[word]
    if word in _TENS:
        return "tens", _TENS[word]
    if word in _HUNDRED:
        return "hundred", 100
    if word in _THOUSAND:
        return "thousand", 1000
    return None


def _tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text or "").lower().replace("’", "'")
    text = re.sub(r"(?<=[a-zé])-(?=[a-zé])", " ", text)  # vingt-trois -> vingt trois
    return re.findall(r"[a-zàâäéèêëîïôöùûüç']+|\d+|[#*]", text)


def digits_of(text: str) -> str:
    """Every digit the caller said, in order: written digits and spoken number groups concatenated."""
    out: list[str] = []
    group: _Group | None = None
    tokens = _tokens(text)
    for i, tok in enumerate(tokens):
        if tok.isdigit():
            _flush(group, out)
            group = None
            out.append(tok)
            continue
        if tok in _ZERO:
            _flush(group, out)
            group = None
            out.append("0")
            continue
        if tok == "et" and group is not None and group.last == "tens" and i + 1 < len(tokens) \
                and tokens[i + 1] in ("un", "une", "onze"):
            continue  # vingt et un
        kind = _word_kind(tok)
        if kind is None:
            _flush(group, out)
            group = None
            continue
        if group is None or not group.accepts(*kind):
            _flush(group, out)
            group = _Group()
        group.add(*kind)
    _flush(group, out)
    return "".join(out)


def _flush(group: _Group | None, out: list[str]) -> None:
    """Write the open number group (if any) to ``out``; the caller then has no group open."""
    if group is not None and group.words:
        out.append(str(group.value()))


def _letters(text: str, prefixes: list[str]) -> str | None:
    """The first known prefix said as a word ("IDF") or letter by letter ("I D F", "i dé effe")."""
    tokens = [t for t in _tokens(text.replace(".", " ")) if not t.isdigit()]
    wanted = {p.upper() for p in prefixes}
    for tok in tokens:
        if tok.upper() in wanted:
            return tok.upper()
    spelled = "".join(_LETTER_NAMES.get(t, t.upper() if len(t) == 1 and t.isalpha() else " ") for t in tokens)
    for p in wanted:
        if p in spelled:
            return p
    return None


def parse_dossier_number(text: str, prefixes: list[str]) -> str | None:
    """'I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois' -> 'IDF-2025-000123'.

    None if no complete number (4-digit year, 6-digit sequence) was said. Digits alone get the first prefix.
    """
    compact = re.sub(r"[\s.\-/]", "", (text or "").upper())
    m = re.search(r"([A-Z]{2,4})(\d{4})(\d{6})(?!\d)", compact)
    if m and m.group(1) in {p.upper() for p in prefixes}:
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    digits = digits_of(text)
    if len(digits) != 10 or not digits.startswith(("19", "20")):
        return None
    prefix = _letters(text, prefixes) or prefixes[0].upper()
    return f"{prefix}-{digits[:4]}-{digits[4:]}"


def parse_postcode(text: str) -> str | None:
    """'quatre-vingt-treize deux cents' / '93 200' / '9 3 2 0 0' -> '93200'; None unless exactly 5 digits."""
    digits = digits_of(text)
    return digits if re.fullmatch(r"\d{5}", digits) else None


def number_for_ear(number: str) -> str:
    """'IDF-2025-000123' -> 'I, D, F, deux mille vingt-cinq, zéro zéro zéro un deux trois'.

    The sequence is read digit by digit, as a caller checks it against a letter.
    """
    prefix, year, seq = number.split("-")
    return f"{', '.join(prefix)}, {integer_words(int(year))}, {' '.join(_DIGIT_WORDS[int(d)] for d in seq)}"


def postcode_for_ear(postcode: str) -> str:
    return " ".join(_DIGIT_WORDS[int(d)] for d in postcode)


def integer_words(n: int) -> str:
    from num2words import num2words

    return num2words(n, lang="fr")


def date_words(d: dt.date) -> str:
    """'le quatorze octobre deux mille vingt-cinq' (premier for the 1st)."""
    day = "premier" if d.day == 1 else integer_words(d.day)
    return f"le {day} {_MONTHS[d.month - 1]} {integer_words(d.year)}"


def date_text(d: dt.date) -> str:
    """'le 14 octobre 2025' for display."""
    return f"le {'1er' if d.day == 1 else d.day} {_MONTHS[d.month - 1]} {d.year}"


def euros_words(amount: float) -> str:
    whole, cents = int(amount), round((amount - int(amount)) * 100)
    text = f"{integer_words(whole)} euro{'s' if whole > 1 else ''}"
    return text + (f" et {integer_words(cents)} centimes" if cents else "")


def euros_text(amount: float) -> str:
    whole = f"{int(amount):,}".replace(",", "\u202f")
    cents = round((amount - int(amount)) * 100)
    return f"{whole},{cents:02d} €" if cents else f"{whole} €"


_YES = re.compile(r"\b(oui|ouais|ouaip|exact|exactement|correct|c'est (?:bien )?(?:ça|cela|bon|juste)|"
                  r"tout à fait|absolument|affirmatif|voilà|d'accord|ok|okay|parfait|bien sûr|volontiers)\b")
_NO = re.compile(r"\b(non|nan|pas (?:ça|du tout|exactement|correct|le bon|bon)|faux|erreur|incorrect|"
                 r"ce n'est pas|c'est pas|trompé|négatif)\b")


def yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when neither (or both) is said."""
    t = unicodedata.normalize("NFC", (text or "").lower()).replace("’", "'")
    yes, no = bool(_YES.search(t)), bool(_NO.search(t))
    if yes == no:
        return None
    return yes
