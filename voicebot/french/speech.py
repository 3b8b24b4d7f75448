"""French written text → text a TTS voice reads correctly, and streaming cut points for it.

Why: Piper (espeak-ng phonemes) reads "1 300 €", "01/03/2021", "9h30", "n°" or "IDFM" badly or not at
all, and the LLM writes markdown. `to_speech` rewrites numbers, amounts, dates, times, phone numbers,
abbreviations and markup into plain French words. Numbers are spelled by num2words (lang="fr"); the
surrounding French rules (euros and centimes, phone pairs, feminine "une", dates) are our own, as no
library covers spoken French conventions for those.

`split_speakable` cuts a streaming LLM buffer into chunks that can be sent to TTS now, never inside a
number, an abbreviation, a decimal or a date (it only cuts at punctuation followed by whitespace, or at
a newline, so an incomplete "2," or "M." at the end of the buffer waits for the next token).

Choices (tested in tests/unit/test_pipeline_speech_text.py):
- spelling is num2words' traditional one ("vingt et un", "quatre-vingts"); TTS reads it the same as
  the 1990 "vingt-et-un";
- "86,40 €" → "quatre-vingt-six euros quarante" (spoken price form), "0,50 €" → "cinquante centimes",
  "1 €" → "un euro", "2 000 000 €" → "deux millions d'euros", "2,5 M€" → "deux virgule cinq millions
  d'euros"; an amount with more than two decimals is read as a decimal number of euros;
- a decimal part of up to three digits is read as a number ("2,55" → "deux virgule cinquante-cinq"),
  leading zeros as "zéro"; longer ones digit by digit;
- phone numbers are read by pairs ("01 53 …" → "zéro un, cinquante-trois, …"); a four-digit short
  number 3xxx ("3975") is read by pairs only after a phone word ("appelez le", "au", "numéro", …),
  otherwise it is a quantity or a year;
- "un" becomes "une" before a feminine noun of a short list (heures, minutes, personnes, fois, …);
- acronyms: a known list is spelled ("IDFM" → "I D F M") or expanded ("TTC"), any other all-capital
  word without vowel is spelled ("QPV" → "Q P V"); others ("RER", "CAF") are left to the voice.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from num2words import num2words

from voicebot.french.dates import MONTHS

__all__ = ["to_speech", "split_speakable"]

# ---------------------------------------------------------------------------------------------------
# Number words
# ---------------------------------------------------------------------------------------------------

_DIGIT_WORDS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")
_MAX_CARDINAL_DIGITS = 15  # beyond this a digit string is an identifier, read digit by digit

_FEMININE_NOUNS = frozenset(
    """heure minute seconde fois personne semaine année journée nuit place ligne étape demande page
    carte station gare zone classe question voiture aide solution option possibilité raison école
    région commune ville entreprise famille condition tranche mensualité échéance pièce formation
    réduction séance journée catégorie offre adresse association structure agence antenne""".split()
)


def _digits_read(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits)


def _cardinal(n: int, *, feminine: bool = False) -> str:
    """Cardinal number in French words; very long ones are identifiers, read digit by digit."""
    if n >= 10**_MAX_CARDINAL_DIGITS:
        return _digits_read(str(n))
    words = num2words(n, lang="fr")
    if feminine:
        words = re.sub(r"\bun$", "une", words)
    return words


def _integer_words(digits: str, *, feminine: bool = False) -> str:
    """Integer digit string → words; a leading zero ("007") is read digit by digit."""
    if (len(digits) > 1 and digits.startswith("0")) or len(digits) > _MAX_CARDINAL_DIGITS:
        return _digits_read(digits)
    return _cardinal(int(digits), feminine=feminine)


def _fraction_words(frac: str) -> str:
    """Decimal part as French speakers read it: "55" → cinquante-cinq, "05" → zéro cinq."""
    if len(frac) > 3:
        return _digits_read(frac)
    stripped = frac.lstrip("0")
    zeros = " ".join(["zéro"] * (len(frac) - len(stripped)))
    if not stripped:
        return zeros
    return f"{zeros} {_cardinal(int(stripped))}".strip()


def _decimal_words(int_digits: str, frac: str | None, *, feminine: bool = False) -> str:
    if frac:
        return f"{_integer_words(int_digits)} virgule {_fraction_words(frac)}"
    return _integer_words(int_digits, feminine=feminine)


def _plural_from(int_digits: str, frac: str | None) -> bool:
    """French plural rule for nouns after a number: plural from 2 (1,5 million, 2 millions)."""
    try:
        value = Decimal(f"{int_digits}.{frac}" if frac else int_digits)
    except InvalidOperation:
        return True
    return value >= 2


def _pad(m: re.Match[str], words: str) -> str:
    """Replacement text with a space on each side where it would otherwise touch a letter/digit."""
    s = m.string
    left = " " if m.start() > 0 and s[m.start() - 1].isalnum() else ""
    right = " " if m.end() < len(s) and s[m.end()].isalnum() else ""
    return f"{left}{words}{right}"


# Thousands separators: space, no-break space, narrow no-break space, thin space, or dot by 3 digits.
_SP = "[ \u00a0\u202f\u2009]"
_INT = rf"(?:\d{{1,3}}(?:{_SP}\d{{3}})+(?!\d)|\d{{1,3}}(?:\.\d{{3}})+(?![\d])|\d+)"
_NUM = rf"(?<!\d)(?P<int>{_INT})(?:[,.](?P<frac>\d+))?"
# A sign counts only at the start of a word ("−75 %", "(+2,8 %)"), not in "A-86" or "2020-2021".
_SIGN = r"(?:(?<![^\s(\[])(?P<sign>[-−+])(?=\d))?"
_SIGN_WORDS = {"-": "moins ", "−": "moins ", "+": "plus "}


def _int_digits(m: re.Match[str]) -> str:
    return re.sub(r"\D", "", m.group("int"))


def _sign_words(m: re.Match[str]) -> str:
    sign = m.groupdict().get("sign")
    return _SIGN_WORDS.get(sign, "") if sign else ""


# ---------------------------------------------------------------------------------------------------
# Markup, URLs, symbols
# ---------------------------------------------------------------------------------------------------

_MD_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_MD_BULLET = re.compile(r"^[ \t]*(?:[-*+•·–—>]+|\d{1,2}[.)])[ \t]+", re.MULTILINE)
_MD_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]*", re.MULTILINE)
_IVR_KEY = re.compile(r"\b(touche|tapez|appuyez sur|composez)\s+([#*])(?!\w)", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"«»]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b([\w.+-]+)@((?:[\w-]+\.)+[a-z]{2,})\b", re.IGNORECASE)
_DOMAIN = re.compile(
    r"(?<![\w@.])((?:[a-z0-9][a-z0-9-]*\.)+(?:fr|com|org|net|eu|paris|info|io|gouv))"
    r"(?:/[^\s<>\"«»]*)?(?![\w-])",
    re.IGNORECASE,
)


def _domain_words(host: str) -> str:
    host = re.sub(r"^www\.", "", host.lower().strip(".-"))
    parts = [p.replace("-", " tiret ") for p in host.split(".") if p]
    return " point ".join(parts)


def _url_repl(m: re.Match[str]) -> str:
    url = m.group(0).rstrip(".,;:!?)»'\"")
    tail = m.group(0)[len(url) :]
    host = re.sub(r"^(?:https?://)?", "", url, flags=re.IGNORECASE)
    host = re.split(r"[/?#:]", host, maxsplit=1)[0]
    host = host.split("@")[-1]
    return _pad(m, _domain_words(host)) + tail


def _strip_symbols(text: str) -> str:
    """Drop emoji, pictographs, control and format characters; keep letters, digits, punctuation."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\n\t":
            out.append(ch)
        elif cat in ("So", "Sk", "Cc", "Cf", "Cs", "Co", "Cn", "Mn") and ch not in "°^`´":
            # "Mn" alone (combining marks) after NFC only remain on letters we cannot compose.
            continue
        else:
            out.append(ch)
    return "".join(out)


def _strip_markup(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    text = text.replace("```", " ").replace("`", "")
    text = _IVR_KEY.sub(lambda m: f"{m.group(1)} {'dièse' if m.group(2) == '#' else 'étoile'}", text)
    text = _MD_HEADING.sub("", text)
    text = re.sub(r"\*+|_+|#+", " ", text)
    text = _MD_BULLET.sub("", text)
    text = text.replace("|", ", ")
    text = re.sub(r"^[ \t]*[-=]{3,}[ \t]*$", "", text, flags=re.MULTILINE)  # horizontal rules
    return text


def _join_lines(text: str) -> str:
    """Lines (list items, paragraphs) become sentences, so the voice pauses between them."""
    lines = [ln.strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    out = []
    for i, ln in enumerate(lines):
        if i < len(lines) - 1 and not re.search(r"[.!?…:;,]$", ln):
            ln += "."
        out.append(ln)
    return " ".join(out)


# ---------------------------------------------------------------------------------------------------
# Phone numbers, dates, times, money, percentages, ordinals
# ---------------------------------------------------------------------------------------------------

_PH_SEP = r"[ .\-\u00a0\u202f]?"
_PHONE_INTL = re.compile(
    rf"(?<![\w+])\+{_PH_SEP}33{_PH_SEP}(?:\(0\){_PH_SEP})?([1-9])((?:{_PH_SEP}\d{{2}}){{4}})(?!\d)"
)
_PHONE_FREEPHONE = re.compile(r"(?<![\w,.])0[ .](8\d\d)[ .](\d{3})[ .](\d{3})(?!\d|,\d)")
_PHONE_NATIONAL = re.compile(rf"(?<![\w,.])(0[1-9])((?:{_PH_SEP}\d{{2}}){{4}})(?!\d|,\d)")
_PHONE_SHORT = re.compile(
    r"(?i)(\b(?:appel\w*|compos\w*|num[ée]ro|n°|t[ée]l[ée]phone|t[ée]l\.?|joindre|contact\w*|"
    r"ligne|au)\b[^.\d]{0,25}?)(?<!\d)(3\d)(\d\d)(?![\d,.]\d|\d)"
)


def _pairs_words(digits: str) -> list[str]:
    return [_integer_words(digits[i : i + 2]) for i in range(0, len(digits), 2)]


def _phone_national(m: re.Match[str]) -> str:
    digits = m.group(1) + re.sub(r"\D", "", m.group(2))
    return _pad(m, ", ".join(_pairs_words(digits)))


def _phone_intl(m: re.Match[str]) -> str:
    rest = re.sub(r"\D", "", m.group(2))
    words = ["plus trente-trois", _DIGIT_WORDS[int(m.group(1))], *_pairs_words(rest)]
    return _pad(m, ", ".join(words))


def _phone_freephone(m: re.Match[str]) -> str:
    words = ["zéro", *(_cardinal(int(g)) for g in m.groups())]
    return _pad(m, ", ".join(words))


def _phone_short(m: re.Match[str]) -> str:
    return f"{m.group(1)}{_integer_words(m.group(2))}, {_integer_words(m.group(3))}"


_MONTHS = MONTHS


def _date_words(day: str, month: str, year: str | None) -> str | None:
    d, mo = int(day), int(month)
    if not (1 <= d <= 31 and 1 <= mo <= 12):
        return None
    words = f"{'premier' if d == 1 else _cardinal(d)} {_MONTHS[mo - 1]}"
    if year is not None:
        words += f" {_cardinal(int(year))}"
    return words


_DATE_DMY = re.compile(r"(?<![\d/.,-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?![\d/])")
_DATE_ISO = re.compile(r"(?<![\d/.,-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_DATE_YM = re.compile(r"(?<![\d/.,-])((?:19|20)\d\d)-(0[1-9]|1[0-2])(?![\d-])")
_DATE_DM = re.compile(r"(?i)(\b(?:le|du|au|depuis le|jusqu'au|avant le|après le)\s+)(\d{2})/(\d{2})(?![\d/])")


def _date_dmy(m: re.Match[str]) -> str:
    words = _date_words(m.group(1), m.group(3), m.group(4))
    return m.group(0) if words is None else _pad(m, words)


def _date_iso(m: re.Match[str]) -> str:
    words = _date_words(m.group(3), m.group(2), m.group(1))
    return m.group(0) if words is None else _pad(m, words)


def _date_dm(m: re.Match[str]) -> str:
    words = _date_words(m.group(2), m.group(3), None)
    return m.group(0) if words is None else m.group(1) + words


_ROUND_THE_CLOCK = re.compile(r"(?<!\d)(\d{1,2})\s?h\s?/\s?24\b", re.IGNORECASE)
_EVERY_DAY = re.compile(r"(?<!\d)(\d)\s?j\s?/\s?7\b", re.IGNORECASE)
_TIME_RANGE = re.compile(r"(\d\s?[hH](?:\s?[0-5]\d)?)\s?[-–]\s?(?=\d{1,2}\s?[hH](?:\s?[0-5]\d)?(?![\w'’]))")
_TIME_H = re.compile(r"(?<![\d,.])(\d{1,3})\s?[hH](?:\s?([0-5]\d))?(?![\w'’])")
_TIME_COLON = re.compile(r"(?<![\d:,.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")


def _hours_words(hours: str, minutes: str | None) -> str:
    h = int(hours)
    words = f"{_cardinal(h, feminine=True)} {'heure' if h < 2 else 'heures'}"
    if minutes and int(minutes):
        words += f" {_cardinal(int(minutes), feminine=True)}"
    return words


def _time_repl(m: re.Match[str]) -> str:
    return _pad(m, _hours_words(m.group(1), m.group(2)))


_MULT_WORDS = {
    "m": "million", "million": "million", "millions": "million",
    "md": "milliard", "mds": "milliard", "mrd": "milliard", "milliard": "milliard", "milliards": "milliard",
}  # fmt: skip
_MONEY_AFTER = re.compile(
    rf"{_SIGN}{_NUM}{_SP}*(?P<mult>M|Mds?|Mrds?|[kK]|millions?|milliards?|mille)?{_SP}*"
    rf"(?:d['’]{_SP}*|de{_SP}+)?(?:€|\beuros?\b|\bEUR\b)"
)
_MONEY_BEFORE = re.compile(rf"(?:€|\bEUR\b){_SP}*{_SIGN}{_NUM}(?!{_SP}*(?:€|euros?\b))")


def _euros_words(int_digits: str, frac: str | None, mult: str | None) -> str:
    if mult and mult.lower() in ("k", "mille"):
        frac = frac or ""  # "1,5 k€" → 1500 €: shift the digits, no float rounding
        whole = (int_digits + frac[:3].ljust(3, "0")).lstrip("0") or "0"
        rest = frac[3:]
        return _euros_words(whole, rest if rest.strip("0") else None, None)
    if mult:
        unit = _MULT_WORDS[mult.lower().rstrip("s") if mult.lower() not in _MULT_WORDS else mult.lower()]
        plural = "s" if _plural_from(int_digits, frac) else ""
        return f"{_decimal_words(int_digits, frac)} {unit}{plural} d'euros"
    n = int(int_digits) if len(int_digits) <= _MAX_CARDINAL_DIGITS else 10**_MAX_CARDINAL_DIGITS
    if frac and len(frac) > 2:
        return f"{_decimal_words(int_digits, frac)} {'euros' if _plural_from(int_digits, frac) else 'euro'}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    if n == 0 and cents:
        return f"{_cardinal(cents)} {'centimes' if cents > 1 else 'centime'}"
    words = _integer_words(int_digits)
    if re.search(r"(millions?|milliards?)$", words):
        euros = "d'euros"
    else:
        euros = "euros" if n >= 2 else "euro"
    words = f"{words} {euros}"
    if cents:
        words += f" {_cardinal(cents)}"
    return words


def _money_repl(m: re.Match[str]) -> str:
    words = _euros_words(_int_digits(m), m.group("frac"), m.groupdict().get("mult"))
    return _pad(m, _sign_words(m) + words)


_PERCENT = re.compile(rf"{_SIGN}{_NUM}{_SP}*(%|‰)")


def _percent_repl(m: re.Match[str]) -> str:
    unit = "pour cent" if m.group(m.lastindex or 0) == "%" else "pour mille"
    return _pad(m, f"{_sign_words(m)}{_decimal_words(_int_digits(m), m.group('frac'))} {unit}")


_ORDINAL = re.compile(r"(?<![\w,.])(\d+)(ères?|eres?|res?|ᵉʳ|ʳᵉ|ers?|ᵉ|èmes?|emes?|e|è|ndes?|nds?)(?![\w'’])")
_ROMAN_CENTURY = re.compile(r"\b([IVXL]+)(?:e|ème|ᵉ)(?=\s+siècle)")
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50}


def _ordinal_words(n: int, suffix: str) -> str:
    s = suffix.rstrip("s")
    plural = "s" if suffix.endswith("s") and suffix not in ("ᵉ",) else ""
    if n == 1 and s in ("re", "ère", "ere", "ʳᵉ"):
        return "première" + plural
    if n == 1 and s in ("er", "ᵉʳ"):
        return "premier" + plural
    if n == 2 and s in ("nd", "nde"):
        return ("second" if s == "nd" else "seconde") + plural
    return num2words(n, lang="fr", to="ordinal") + plural


def _ordinal_repl(m: re.Match[str]) -> str:
    if len(m.group(1)) > _MAX_CARDINAL_DIGITS:
        return m.group(0)
    return _pad(m, _ordinal_words(int(m.group(1)), m.group(2)))


def _roman_value(s: str) -> int | None:
    total, prev = 0, 0
    for ch in reversed(s):
        v = _ROMAN[ch]
        total = total - v if v < prev else total + v
        prev = max(prev, v)
    return total if 0 < total < 40 else None


def _roman_century_repl(m: re.Match[str]) -> str:
    n = _roman_value(m.group(1))
    return m.group(0) if n is None else num2words(n, lang="fr", to="ordinal")


# ---------------------------------------------------------------------------------------------------
# Plain numbers, ranges, units
# ---------------------------------------------------------------------------------------------------

_UNITS = {
    "km/h": ("kilomètre heure", "kilomètres heure"),
    "km": ("kilomètre", "kilomètres"),
    "m²": ("mètre carré", "mètres carrés"),
    "m2": ("mètre carré", "mètres carrés"),
    "cm": ("centimètre", "centimètres"),
    "mm": ("millimètre", "millimètres"),
    "m": ("mètre", "mètres"),
    "kg": ("kilo", "kilos"),
    "g": ("gramme", "grammes"),
    "min": ("minute", "minutes"),
    "mn": ("minute", "minutes"),
    "j": ("jour", "jours"),
    "Mo": ("mégaoctet", "mégaoctets"),
    "Go": ("gigaoctet", "gigaoctets"),
    "°C": ("degré", "degrés"),
    "°": ("degré", "degrés"),
}
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_NUMBER = re.compile(rf"{_SIGN}{_NUM}(?:(?P<usp>{_SP}?)(?P<unit>{_UNIT_ALT})(?![\w²]))?")
_RANGE = re.compile(r"(?<![\w,.\-−])(\d+)\s?[-–]\s?(\d+)(?!\d|[,.]\d)")
_FRACTION = re.compile(r"(?<=\d)\s?/\s?(?=\d)")
_NEXT_WORD = re.compile(r"[ \u00a0\u202f]*([^\W\d_][\w'’-]*)")
_LARGE_END = re.compile(r"(millions?|milliards?|billions?)$")


def _number_repl(m: re.Match[str]) -> str:
    int_digits, frac = _int_digits(m), m.group("frac")
    unit = m.group("unit")
    if unit:
        singular, plural = _UNITS[unit]
        words = f"{_decimal_words(int_digits, frac)} {plural if _plural_from(int_digits, frac) else singular}"
        return _pad(m, _sign_words(m) + words)
    nxt = _NEXT_WORD.match(m.string, m.end())
    next_word = nxt.group(1).lower() if nxt else ""
    feminine = not frac and next_word.rstrip("s") in _FEMININE_NOUNS
    words = _decimal_words(int_digits, frac, feminine=feminine)
    if (
        not frac
        and _LARGE_END.search(words)
        and next_word
        and not re.match(r"(de|d['’]|à|et|ou)$|d['’]", next_word)
    ):
        words += " d'" if next_word[0] in "aeiouyhéèêàâîôû" else " de"
    return _pad(m, _sign_words(m) + words)


_COMMON_FRACTIONS = {
    "1/2": "un demi", "1/3": "un tiers", "2/3": "deux tiers", "1/4": "un quart", "3/4": "trois quarts",
}  # fmt: skip
_HALF_HOUR = re.compile(r"(?<![\w/])1/2\s?(heure|journée)\b")
_COMMON_FRACTION = re.compile(r"(?<![\w/])([123]/[234])(?![\w/])")


def _numbers(text: str) -> str:
    text = _HALF_HOUR.sub(r"une demi-\1", text)
    text = _COMMON_FRACTION.sub(lambda m: _COMMON_FRACTIONS.get(m.group(1), m.group(0)), text)
    text = _RANGE.sub(lambda m: f"{m.group(1)} à {m.group(2)}", text)
    text = _FRACTION.sub(" sur ", text)
    text = _NUMBER.sub(_number_repl, text)
    # Anything left (digits glued to letters, other scripts' digits, very long runs).
    return re.sub(r"[0-9]+", lambda m: _pad(m, _integer_words(m.group(0))), text)


# ---------------------------------------------------------------------------------------------------
# Abbreviations and acronyms
# ---------------------------------------------------------------------------------------------------

_SENTENCE_AFTER = r"(?=\s*$|\s+[A-ZÀ-ÖØ-Þ])"
_ABBREVIATIONS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"(?<![\w.])(?<![A-Z] )MM\.(?=\s+[A-ZÀ-Þ])"), "messieurs"),
    (re.compile(r"(?<![\w.])(?<![A-Z] )M\.(?=\s+[A-ZÀ-Þ]|\s+et\s+Mmes?\b)"), "monsieur"),
    (re.compile(r"\bMmes\b\.?"), "mesdames"),
    (re.compile(r"\bMme\b\.?"), "madame"),
    (re.compile(r"\bMlles?\b\.?"), "mademoiselle"),
    (re.compile(r"\bDr\b\.?(?=\s+[A-ZÀ-Þ])"), "docteur"),
    (re.compile(r"(?i)(?<!\w)n[°º]\s*"), "numéro "),
    (re.compile(r"№\s*"), "numéro "),
    (re.compile(r"\bp\.\s?ex\.", re.IGNORECASE), "par exemple"),
    (re.compile(r"\bcf\.", re.IGNORECASE), "voir"),
    (re.compile(r"\btél\.", re.IGNORECASE), "téléphone"),
    (re.compile(r"\bart\.(?=\s*\w)"), "article"),
    (re.compile(r"\bav\.(?=\s+\w)"), "avenue"),
    (re.compile(r"\bbd\b\.?(?=\s+\w)"), "boulevard"),
    (re.compile(r"\brdv\b", re.IGNORECASE), "rendez-vous"),
    # after a number, units are read by _number_repl (singular/plural); elsewhere:
    (re.compile(r"(?<!\d)(?<!\d[ \u00a0\u202f])\bkm/h\b"), "kilomètres heure"),
    (re.compile(r"(?<!\d)(?<!\d[ \u00a0\u202f])\bkms?\b"), "kilomètres"),
    (re.compile(r"/\s?(mois|an|jour|semaine|heure|personne|mn|min)\b"), r" par \1"),
    (re.compile(r"\s?&\s?"), " et "),
    (re.compile(r"(?<=\s)\+(?=\s|$|[.,;:!?)])|(?<=\w)\s?\+(?=\s|$|[.,;:!?)])"), " plus"),
    (re.compile(r"(?<=\s)=(?=\s)"), "égale"),
    (re.compile(r"€"), lambda m: _pad(m, "euros")),
    (re.compile(r"(?<=\s)%(?=\s|$|[.,;:!?])"), "pour cent"),
]
# Words that end a sentence when followed by a capital or the end: keep the full stop then.
_SENTENCE_ABBREVIATIONS = [
    (re.compile(r"\betc\.{1,3}" + _SENTENCE_AFTER), "et cetera."),
    (re.compile(r"\betc\b\.{0,3}"), "et cetera"),
    (re.compile(r"\bmax\." + _SENTENCE_AFTER), "maximum."),
    (re.compile(r"\bmax\."), "maximum"),
    (re.compile(r"\bmin\." + _SENTENCE_AFTER), "minimum."),
    (re.compile(r"\bmin\."), "minimum"),
    (re.compile(r"\benv\." + _SENTENCE_AFTER), "environ."),
    (re.compile(r"\benv\."), "environ"),
]

_ACRONYMS = {
    "TTC": "toutes taxes comprises",
    "HT": "hors taxes",
    "IDFM": "I D F M",
    "IDF": "I D F",
    "RATP": "R A T P",
    "APL": "A P L",
    "RSA": "R S A",
    "AAH": "A A H",
    "CPAM": "C P A M",
    "PMI": "P M I",
    "ASE": "A S E",
    "CEJ": "C E J",
    "PACEA": "P A C E A",
    "CMI": "C M I",
    "VAE": "V A E",
    "QPV": "Q P V",
    "SMS": "S M S",
    "PDF": "P D F",
    "USA": "U S A",
    "UE": "U E",
    "SIAO": "S I A O",
}
_ACRONYMS_AS_WORDS = frozenset({"RER", "CAF", "URSSAF", "ONU", "OK", "ANTS", "SAMU", "CROUS", "INSEE"})
_ACRONYM = re.compile(r"(?<![\w-])([A-Z]{2,6})(?![\w'’°º])")
_VOWELS = set("AEIOUY")


def _acronym_repl(m: re.Match[str]) -> str:
    word = m.group(1)
    if word in _ACRONYMS:
        return _ACRONYMS[word]
    if word in _ACRONYMS_AS_WORDS or _VOWELS & set(word):
        return word
    return " ".join(word)


def _abbreviations(text: str) -> str:
    for pattern, repl in _SENTENCE_ABBREVIATIONS + _ABBREVIATIONS:
        text = pattern.sub(repl, text)
    return text


# ---------------------------------------------------------------------------------------------------
# to_speech
# ---------------------------------------------------------------------------------------------------


def to_speech(text: str) -> str:
    """Rewrite French written text into the words a voice should say (see the module docstring)."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2019", "’").replace("\u2013", "–")
    text = _join_lines(_strip_markup(text))
    text = _EMAIL.sub(
        lambda m: f"{m.group(1).replace('.', ' point ')} arobase {_domain_words(m.group(2))}", text
    )
    text = _URL.sub(_url_repl, text)
    text = _DOMAIN.sub(lambda m: _pad(m, _domain_words(m.group(1))), text)
    text = _strip_symbols(text)
    text = _PHONE_INTL.sub(_phone_intl, text)
    text = _PHONE_FREEPHONE.sub(_phone_freephone, text)
    text = _PHONE_NATIONAL.sub(_phone_national, text)
    text = _PHONE_SHORT.sub(_phone_short, text)
    text = _DATE_ISO.sub(_date_iso, text)
    text = _DATE_DMY.sub(_date_dmy, text)
    text = _DATE_DM.sub(_date_dm, text)
    text = _DATE_YM.sub(
        lambda m: _pad(m, f"{_MONTHS[int(m.group(2)) - 1]} {_cardinal(int(m.group(1)))}"), text
    )
    text = _ROUND_THE_CLOCK.sub(lambda m: _pad(m, f"{_hours_words(m.group(1), None)} sur vingt-quatre"), text)
    text = _EVERY_DAY.sub(lambda m: _pad(m, f"{_cardinal(int(m.group(1)))} jours sur sept"), text)
    text = _TIME_RANGE.sub(r"\1 à ", text)
    text = _TIME_H.sub(_time_repl, text)
    text = _TIME_COLON.sub(_time_repl, text)
    text = _MONEY_AFTER.sub(_money_repl, text)
    text = _MONEY_BEFORE.sub(_money_repl, text)
    text = _PERCENT.sub(_percent_repl, text)
    text = _ROMAN_CENTURY.sub(_roman_century_repl, text)
    text = _ORDINAL.sub(_ordinal_repl, text)
    text = _abbreviations(text)  # before numbers: "n° 5", "art. 3"
    text = _numbers(text)
    text = _abbreviations(text)  # again: numbers glued to words ("km156") are now apart
    text = _DOMAIN.sub(lambda m: _pad(m, _domain_words(m.group(1))), text)  # "dix-sept.fr" made by numbers
    text = _ACRONYM.sub(_acronym_repl, text)
    text = re.sub(r"[ \t\u00a0\u202f\u2009\u2000-\u200a\u3000\x0b\x0c]+", " ", text)
    text = re.sub(r"\s+([,.)\]…])", r"\1", text)
    text = re.sub(r"([(\[])\s+", r"\1", text)
    text = re.sub(r",(\s*,)+", ",", text)
    text = re.sub(r"\b([dD])['’] (?=\w)", r"\1'", text)  # "un million d' habitants"
    text = re.sub(r"\b([dD])e (une?)\b", r"\1'\2", text)  # "de un euro" → "d'un euro"
    text = re.sub(r"^(?:[-*+•·–—>]+\s+)+", "", text)  # a bullet that only showed up once "&" became "et"
    return text.strip()


# ---------------------------------------------------------------------------------------------------
# split_speakable
# ---------------------------------------------------------------------------------------------------

# A full stop after these never ends a sentence ("M. Dupont", "art. 3", "n. 5", "J. Martin").
_NEVER_END = frozenset(
    "M MM Mme Mmes Mlle Dr Pr Me St Ste art av bd cf tél tel p pp n no vol ch éd ex Cie".split()
)
# A full stop after these ends a sentence only when a capital letter follows ("... etc. Ensuite").
_END_IF_CAPITAL = frozenset("etc env max min cad c.-à-d i.e e.g".split())
_SENTENCE_END = re.compile(r"(?:[.!?…]+|\n)(?:[ \u00a0\u202f]?[»”]|[\"')\]])*(?=\s)|\n")
_CLAUSE_END = re.compile(r"[,;:](?=\s)")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_NEXT_VISIBLE = re.compile(r"\s*(\S)")
_MIN_CLAUSE_WORDS = 4
_MAX_CHUNK_CHARS = 300


def _is_sentence_end(buffer: str, start: int, end: int) -> bool:
    punct = buffer[start:end]
    if "\n" in punct or not punct.startswith("."):
        return True
    if punct.startswith("..."):
        return True
    before = re.search(r"([\w.'’-]*)$", buffer[max(0, start - 64) : start])
    word = re.split(r"['’]", before.group(1))[-1] if before else ""
    last = word.rsplit(".", 1)[-1] if word else ""
    if word and (word in _NEVER_END or last in _NEVER_END or word.lower() in _NEVER_END):
        return False
    if len(last) == 1 and last.isalpha() and last.isupper():
        return False  # an initial: "J. Dupont", "ligne A. " is rare and waiting is harmless
    if re.fullmatch(r"[\w](?:\.[\w])+", word):
        return False  # "c.-à-d", "p.ex", "i.e" style compact abbreviations
    if word.lower() in _END_IF_CAPITAL:
        nxt = _NEXT_VISIBLE.match(buffer, end)
        return bool(nxt and nxt.group(1).isupper())
    return True


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _first_clause_end(buffer: str, pos: int, limit: int) -> int | None:
    """End of the first clause (",", ";", ":" then a space) that holds at least four words, if any."""
    fourth_word_end = None
    for count, word in enumerate(_WORD.finditer(buffer, pos, limit), start=1):
        if count == _MIN_CLAUSE_WORDS:
            fourth_word_end = word.end()
            break
    if fourth_word_end is None:
        return None
    m = _CLAUSE_END.search(buffer, fourth_word_end, limit)
    return m.end() if m else None


def _fallback_cut(buffer: str) -> int | None:
    """For a runaway buffer without punctuation: the last space not inside a number or after "M."."""
    for m in reversed(list(re.finditer(r"\s+", buffer[:_MAX_CHUNK_CHARS]))):
        before, after = buffer[: m.start()], buffer[m.end() :]
        if before[-1:].isdigit() and after[:1].isdigit():
            continue
        if re.search(r"(?:^|\s)(?:M|MM|Mme|Dr|n°|art\.|p\.)\.?$", before):
            continue
        if _has_words(before):
            return m.end()
    return None


def split_speakable(buffer: str, *, first_clause: bool) -> tuple[list[str], str]:
    """Cut a streaming LLM buffer into chunks to speak now and the tail to keep for later.

    Chunks are complete sentences (punctuation followed by whitespace, or a line end). With
    `first_clause`, the first chunk may also end at a comma, colon or semicolon once it holds at least
    four words, so the voice starts sooner. A buffer over 300 characters without any cut point is cut
    at its last safe space. Chunks without a letter or digit (a lone "-" or "**") are dropped.
    """
    chunks: list[str] = []
    pos = 0
    allow_clause = first_clause
    while pos < len(buffer):
        cut = None
        for m in _SENTENCE_END.finditer(buffer, pos):
            if _is_sentence_end(buffer, m.start(), m.end()):
                cut = m.end()
                break
        if allow_clause:
            clause = _first_clause_end(buffer, pos, cut if cut is not None else len(buffer))
            cut = clause if clause is not None else cut
        if cut is None and len(buffer) - pos > _MAX_CHUNK_CHARS:
            rel = _fallback_cut(buffer[pos : pos + _MAX_CHUNK_CHARS + 1])
            cut = pos + rel if rel is not None else None
        if cut is None:
            break
        chunk = buffer[pos:cut].strip()
        pos = cut
        while pos < len(buffer) and buffer[pos].isspace():
            pos += 1
        if _has_words(chunk):
            chunks.append(chunk)
            allow_clause = False
    return chunks, buffer[pos:]


def sayable(text: str) -> bool:
    """Whether a piece holds anything to pronounce: "…" or "?" alone is silence, not speech."""
    return any(c.isalnum() for c in text)
