"""Dossier numbers and postcodes as callers say them, and as the bot reads them back.

Speech-to-text writes "IDF 2025 000 123", "I.D.F. 2025-000123" or words ("deux mille vingt-cinq zéro
zéro zéro cent vingt-trois"); the keypad sends digits. The words become digits by the grammar of
``voicebot.french.numbers``, the one redaction uses too (a number the flow understands is a number the
records mask). Pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from voicebot.french.numbers import LETTER_NAMES, digits_of, tokens

_DIGIT_WORDS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")


def _letters(text: str, prefixes: list[str]) -> str | None:
    """The first known prefix said as a word ("IDF") or letter by letter ("I D F", "i dé effe")."""
    words = [t for t in tokens(text.replace(".", " ")) if not t.isdigit()]
    wanted = {p.upper() for p in prefixes}
    for tok in words:
        if tok.upper() in wanted:
            return tok.upper()
    spelled = "".join(LETTER_NAMES.get(t, t.upper() if len(t) == 1 and t.isalpha() else " ") for t in words)
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
