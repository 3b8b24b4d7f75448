"""Figures of a French text (amounts, numbers, percentages, dates, phone numbers), normalised.

The grounding guard and the version diff compare texts through these normalised keys:
"1 300 €", "1300 euros" and "mille trois cents euros" all give `n:1300`; "1er mars 2021" gives
`d:2021-03-01` (plus `d:2021-03` and `n:2021`); "0800 948 999" gives `tel:0800948999`.
Written here (no library parses French figures this way); kept small and table-driven.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicebot.french.dates import MONTH_NUMBER

_MONTH_RE = "|".join(sorted(MONTH_NUMBER, key=len, reverse=True))

_PHONE = re.compile(r"(?<![\d,.])0[1-9](?:[ .\u00a0\u202f]?\d){8}(?!\d|,\d)")
_DATE_DMY = re.compile(rf"\b(1er|\d{{1,2}})\s+({_MONTH_RE})\s+(\d{{4}})\b", re.IGNORECASE)
_DATE_MY = re.compile(rf"\b({_MONTH_RE})\s+(\d{{4}})\b", re.IGNORECASE)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DATE_SLASH = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_NUMBER = re.compile(
    r"(?<![\w,])(\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d{1,3}(?:\.\d{3})+(?![.,]?\d)|\d+)(?:,(\d+))?"
    r"(?:\s*(Md€|M€|k€|milliards?|millions?))?",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(
    r"\s*(€|euros?\b|%|pour ?cents?\b|pourcents?\b|ans?\b|ann[ée]es?\b|mois\b|jours?\b|semaines?\b|heures?\b|h\b)",
    re.IGNORECASE,
)
_UNIT_NAMES = {"€": "€", "euro": "€", "euros": "€", "%": "%", "an": "an", "ans": "an", "annee": "an", "année": "an",
               "annees": "an", "années": "an", "mois": "mois", "jour": "jour", "jours": "jour", "semaine": "semaine",
               "semaines": "semaine", "heure": "h", "heures": "h", "h": "h"}


def _unit_at(text: str, pos: int) -> str:
    """The unit said right after a figure ('80 %', '80 euros', '3 ans'), or ''."""
    m = _UNIT_AFTER.match(text, pos)
    if not m:
        return ""
    word = m.group(1).lower()
    if word.startswith("pour"):
        return "%"
    return _UNIT_NAMES.get(word, "")


_SCALE = {"md€": 10**9, "milliard": 10**9, "milliards": 10**9, "m€": 10**6, "million": 10**6,
          "millions": 10**6, "k€": 10**3}

_UNITS = {
    "zero": 0, "zéro": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
    "sept": 7, "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14,
    "quinze": 15, "seize": 16, "vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50,
    "soixante": 60,
}
_WORDS_RE = re.compile(
    r"\b(?:(?:" + "|".join(sorted(list(_UNITS) + ["cents?", "mille", "millions?", "et"], key=len, reverse=True))
    + r")(?:[\s-]+|\b))+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Figure:
    """One figure found in a text: its normalised key and the text it came from."""

    key: str
    text: str
    unit: str = ""  # "€", "%", "an", "mois", "jour", "h", "date", "tel" or "" (none said)


def _number_key(value: float) -> str:
    if value == int(value):
        return f"n:{int(value)}"
    return f"n:{value:.6g}"


def _words_value(words: list[str]) -> int | None:
    total, current, seen = 0, 0, False
    for w in words:
        w = w.lower()
        if w == "et":
            continue
        if w in _UNITS:
            v = _UNITS[w]
            if v == 20 and current % 100 == 4:  # quatre-vingt(s)
                current += 76
            elif v < 20 and current % 100 in (60, 80) and v >= 10:  # soixante-dix, quatre-vingt-dix
                current += v
            else:
                current += v
            seen = True
        elif w.startswith("cent"):
            current = max(current, 1) * 100
            seen = True
        elif w == "mille":
            total += max(current, 1) * 1000
            current, seen = 0, True
        elif w.startswith("million"):
            total += max(current, 1) * 1_000_000
            current, seen = 0, True
    return total + current if seen else None


def extract(text: str) -> list[Figure]:
    """All figures of `text`, phones and dates first so their digits are not read as numbers."""
    found: list[Figure] = []
    rest = text

    def blank(m: re.Match[str]) -> str:
        return " " * len(m.group(0))

    for m in _PHONE.finditer(rest):
        found.append(Figure("tel:" + re.sub(r"\D", "", m.group(0)), m.group(0), "tel"))
    rest = _PHONE.sub(blank, rest)

    def add_date(y: int, mo: int, d: int | None, src: str) -> None:
        if not (1 <= mo <= 12):
            return
        if d is not None:
            found.append(Figure(f"d:{y:04d}-{mo:02d}-{d:02d}", src, "date"))
        found.append(Figure(f"d:{y:04d}-{mo:02d}", src, "date"))
        found.append(Figure(f"n:{y}", src, "date"))

    for m in _DATE_DMY.finditer(rest):
        day = 1 if m.group(1).lower() == "1er" else int(m.group(1))
        add_date(int(m.group(3)), MONTH_NUMBER[m.group(2).lower()], day, m.group(0))
    rest = _DATE_DMY.sub(blank, rest)
    for m in _DATE_MY.finditer(rest):
        add_date(int(m.group(2)), MONTH_NUMBER[m.group(1).lower()], None, m.group(0))
    rest = _DATE_MY.sub(blank, rest)
    for m in _DATE_ISO.finditer(rest):
        add_date(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(0))
    rest = _DATE_ISO.sub(blank, rest)
    for m in _DATE_SLASH.finditer(rest):
        add_date(int(m.group(3)), int(m.group(2)), int(m.group(1)), m.group(0))
    rest = _DATE_SLASH.sub(blank, rest)

    for m in _NUMBER.finditer(rest):
        integer = re.sub(r"[ .\u00a0\u202f]", "", m.group(1))
        value = float(integer + ("." + m.group(2) if m.group(2) else ""))
        unit = _unit_at(rest, m.end())
        if m.group(3):
            scale = m.group(3).lower()
            value *= _SCALE.get(scale, _SCALE.get(scale.rstrip("s"), 1))
            unit = "€" if "€" in scale else (unit or "")
        found.append(Figure(_number_key(value), m.group(0).strip(), unit))
    rest = _NUMBER.sub(blank, rest)

    for m in _WORDS_RE.finditer(rest):
        words = [w for w in re.split(r"[\s-]+", m.group(0).strip()) if w]
        if [w.lower() for w in words] in (["un"], ["une"], ["et"]):
            continue  # articles, not quantities
        spelled = _words_value(words)
        if spelled is not None:
            found.append(Figure(_number_key(spelled), m.group(0).strip(), _unit_at(rest, m.end())))
    return found


def unit_keys(text: str) -> set[tuple[str, str]]:
    """(key, unit) pairs of `text`: '80 %' gives ('n:80', '%'), '80 euros' gives ('n:80', '€')."""
    return {(f.key, f.unit) for f in extract(text)}


def supported(figure: tuple[str, str], available: set[tuple[str, str]]) -> bool:
    """A figure is supported when the same value is there with the same unit (or either says none)."""
    key, unit = figure
    return any(k == key and (not unit or not u or u == unit) for k, u in available)


def keys(text: str) -> set[str]:
    """Normalised figure keys of `text`."""
    return {f.key for f in extract(text)}


def mask(text: str) -> str:
    """`text` with every figure replaced by '#', to compare statements whose values changed."""
    out = _PHONE.sub("#", text)
    for pattern in (_DATE_DMY, _DATE_MY, _DATE_ISO, _DATE_SLASH, _NUMBER):
        out = pattern.sub("#", out)
    return re.sub(r"#(?:\s*(?:€|%|euros?))?", "#", out)
