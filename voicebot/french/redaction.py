"""PII redaction: the one step every caller-derived text goes through before it leaves the pipeline.

Applied by ``redact_event`` when an event is published (bus, store, webhook, handoff card, client
events) and by ``RedactingLogFilter`` on every log line. Written here rather than taken from a library:
the French formats (phone numbers as Whisper writes them or as words, NIR, IBAN, cards checked with
Luhn, card expiry and security code) are few and precise, and general PII libraries pull in NLP models
we cannot ship. Order matters: dossier numbers first (written, then said in words, read with the number
grammar of ``french.numbers`` that the dossier flow parses them with), then spoken numbers become digits,
then the longest structured numbers are replaced first.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from voicebot.french.numbers import LETTER_NAMES, NumberRun, normalize, number_runs

PHONE = "[TÉLÉPHONE]"
EMAIL = "[E-MAIL]"
IBAN = "[IBAN]"
CARD = "[CARTE]"
NIR = "[NIR]"
NUMBER = "[NUMÉRO]"
DOSSIER = "[DOSSIER]"
EXPIRY = "[EXPIRATION]"
CODE = "[CODE]"
MASKED_DIGIT = "•"

# -- numbers spoken as words ("zéro six douze trente-quatre cinquante-six soixante-dix-huit") ----------
_UNITS = {"zéro": 0, "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
          "sept": 7, "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14,
          "quinze": 15, "seize": 16, "vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50,
          "soixante": 60, "septante": 70, "huitante": 80, "octante": 80, "nonante": 90}
_BIG = {"cent": 100, "cents": 100, "mille": 1000}
_NUMBER_WORD = r"(?:\d+|" + "|".join(sorted(list(_UNITS) + list(_BIG) + ["et"], key=len, reverse=True)) + r")"
# a run of number words / digit groups, hyphenated or separated by spaces, commas or dots
_SPOKEN_RUN_RE = re.compile(
    r"(?<![\w-])" + _NUMBER_WORD + r"(?:(?:[ \u00a0,.\-]|\s*,\s*)+" + _NUMBER_WORD + r")*(?![\w-])",
    re.IGNORECASE,
)
SPOKEN_MIN_DIGITS = 9  # shorter runs are quantities, years, prices: left alone


def _compound_value(word: str) -> int | None:
    """Value of one written number group such as 'soixante-dix-huit' or 'quatre-vingt-douze'."""
    total, parts = 0, [p for p in word.lower().split("-") if p and p != "et"]
    for i, part in enumerate(parts):
        if part not in _UNITS:
            return None
        value = _UNITS[part]
        if value == 20 and i > 0 and 1 < total < 10:  # quatre-vingt
            total *= 20
        else:
            total += value
    return total if parts else None


def _spoken_digits(run: str) -> str | None:
    """The digits a spoken run stands for, group by group ('zéro six douze' -> '0612'); None if not one."""
    tokens = [t for t in re.split(r"[ \u00a0,.]+", run) if t and t.lower() != "et"]
    if any(t.lower() in _BIG for t in tokens) and len(tokens) < 8:
        return None  # 'deux mille vingt-quatre', 'trois cents euros': an amount or a year
    out = []
    for token in tokens:
        if token.isdigit():
            out.append(token)
            continue
        if token.lower() in _BIG:
            out.append(str(_BIG[token.lower()]))
            continue
        value = _compound_value(token)
        if value is None:
            return None
        out.append(str(value))
    return "".join(out)


def _spoken_to_digits(text: str, min_digits: int = SPOKEN_MIN_DIGITS) -> str:
    """Write long spoken number runs as digits, so the digit rules below classify and replace them."""
    def repl(m: re.Match[str]) -> str:
        run = m.group(0)
        if not re.search(r"[A-Za-zÀ-ÿ]", run):
            return run  # digits only: the digit rules see them as they are
        digits = _spoken_digits(run)
        if digits is None or len(digits) < min_digits:
            return run
        return digits
    return _SPOKEN_RUN_RE.sub(repl, text)


# -- card expiry and security code: recognised by the words around them ------------------------------
_EXPIRY_RE = re.compile(
    r"(?P<kw>\b(?:expir\w*|validit\w*|date de fin)\b[^\d\n]{0,25}?)"
    r"(?P<val>(?:0?[1-9]|1[0-2])\s?(?:/|-|\.|\s)\s?(?:20)?\d{2}\b"
    r"|" + _NUMBER_WORD + r"(?:[ \u00a0,/\-]+" + _NUMBER_WORD + r"){1,4})",
    re.IGNORECASE,
)
_CODE_RE = re.compile(
    r"(?P<kw>\b(?:cvv2?|cvc2?|cryptogramme(?: visuel)?|code de s[ée]curit[ée]|code secret|code confidentiel"
    r"|code pin|pin|trois (?:derniers )?chiffres(?: au dos)?)\b[^\d\n]{0,25}?)"
    r"(?P<val>\d(?:[ \u00a0]?\d){2,5}\b|" + _NUMBER_WORD + r"(?:[ \u00a0,\-]+" + _NUMBER_WORD + r"){1,5})",
    re.IGNORECASE,
)

_SEP = r"[ \u00a0.\-]?"
_DOT = r"(?:\.|\s(?:point|tiret|underscore)\s)"
_EMAIL_RE = re.compile(
    r"[\w%+\-]+(?:" + _DOT + r"[\w%+\-]+)*\s?(?:@|\barobase\b)\s?[\w\-]+(?:" + _DOT + r"[\w\-]+)*"
    + r"(?:\.|\spoint\s)[A-Za-z]{2,}\b",
    re.IGNORECASE,
)
# IBAN: 2 letters, 2 check digits, 11 to 30 alphanumerics, often grouped by 4.
_IBAN_RE = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[ \u00a0]?(?=[A-Z0-9]{0,3}\d)[A-Z0-9]{4}){2,7}(?:[ \u00a0]?(?=[A-Z0-9]{0,2}\d)[A-Z0-9]{1,3})?\b",
    re.IGNORECASE,
)
# The same spaced any way a person reads it: "FR 76 30006 00001 12345678901 89", "fr76-3000-…". Upper-case
# letters only after the check digits, so the words that follow are not eaten.
_IBAN_SPACED_RE = re.compile(
    r"\b[A-Za-z]{2}[ \u00a0.\-]?\d{2}(?:[ \u00a0.\-]?[0-9A-Z]){11,30}(?![0-9A-Za-z])"
)
# NIR: sex, year, month (or 20-99 special), department (2A/2B), commune, order, optional key.
_NIR_RE = re.compile(
    r"(?<![\dA-Za-z])[12]" + _SEP + r"\d{2}" + _SEP + r"(?:0[1-9]|1[0-2]|[2-9]\d)" + _SEP
    + r"(?:\d{2}|2[AB])" + _SEP + r"\d{3}" + _SEP + r"\d{3}(?:" + _SEP + r"\d{2})?(?!\d)",
    re.IGNORECASE,
)
_CARD_RE = re.compile(r"(?<!\d)\d(?:[ \u00a0\-]?\d){12,18}(?!\d)")
_PHONE_RE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)33" + _SEP + r"(?:\(0\))?" + _SEP + r"|0)[1-9](?:" + _SEP + r"\d{2}){4}(?!\d)"
)
# Dossier numbers of the back-office (IDF-2025-000123), as written or as speech-to-text spaces them.
_DOSSIER_RE = re.compile(
    r"(?<![A-Za-z])(?:(?:[A-Z][ .]?){2,4}|[Ii][Dd][Ff])[ .\-]*(?:19|20)\d{2}[ .\-]*\d{3}[ .]?\d{3}(?!\d)")
# The letters before a dossier number said aloud: a 2-4 capital word ("IDF"), "idf", or 2-4 letters named
# one by one ("I D F", "I.D.F.", "i dé effe"); only spaces and light punctuation between them. Lower-case
# single letters only by their names: "il y a deux mille..." has no prefix.
_LETTER = r"(?:[A-Z]|(?i:" + "|".join(sorted(map(re.escape, LETTER_NAMES), key=len, reverse=True)) + r"))"
_SPOKEN_PREFIX_RE = re.compile(
    r"(?<!\w)(?:[A-Z]{2,4}|(?i:idf)|" + _LETTER + r"(?:[ .,\-]+" + _LETTER + r"){1,3})[ .,:\-]*$")


def _dossier_start(text: str, run: NumberRun) -> int | None:
    """Where a dossier number said (at least partly) in words starts, or None if the run is not one.

    After a prefix, a year and six digits, or (said in words) a year and three more digits, are enough:
    a time stamp after a capital word ("UTC 2025-12-02 01:28:40") is not one. Without a prefix, the run
    must read as a year and six digits, with no spoken group after the first above 999: "deux mille
    vingt-cinq, trois cent mille" is a year and an amount, not a number to hide.
    """
    digits = run.digits
    if not digits.startswith(("19", "20")):
        return None
    prefix = _SPOKEN_PREFIX_RE.search(text, max(0, run.start - 24), run.start)
    if prefix and (len(digits) == 10 or run.in_words and len(digits) >= 7):
        return prefix.start()
    if len(digits) == 10 and run.in_words and all(len(d) <= 3 for d, said in run.groups[1:] if said):
        return run.start
    return None


def _spoken_dossiers(text: str) -> str:
    """Dossier numbers said in words or mixed replaced by [DOSSIER].

    "I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois", "idf 2025 zéro zéro zéro cent vingt
    trois": read by the grammar the dossier flow parses them with.
    """
    norm = normalize(text)
    if len(norm) != len(text):
        text = norm  # decomposed accents recomposed: the runs' positions refer to the recomposed text
    out, pos = [], 0
    for run in number_runs(norm):
        begin = _dossier_start(norm, run)
        if begin is not None and begin >= pos:
            out += [text[pos:begin], DOSSIER]
            pos = run.end
    return "".join(out) + text[pos:] if out else text


# Whatever long run of digits is left (account numbers, badly spaced phone numbers).
_LONG_DIGITS_RE = re.compile(r"(?<!\d)\d(?:[ \u00a0.\-]?\d){8,}(?!\d)")


def luhn_ok(digits: str) -> bool:
    """Luhn checksum, used to tell card numbers from other long numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return CARD if luhn_ok(digits) else m.group(0)


def _iban_spaced(m: re.Match[str]) -> str:
    body = re.sub(r"[^0-9A-Za-z]", "", m.group(0))
    return IBAN if sum(ch.isdigit() for ch in body) >= 10 else m.group(0)


def redact(text: str) -> str:
    """Return text with personal data replaced, whether written in digits or spoken as words.

    Dossier numbers, French phone numbers, e-mails, IBANs, card numbers, card expiry and security codes,
    NIRs.
    """
    if not text:
        return text
    out = _spoken_dossiers(_DOSSIER_RE.sub(DOSSIER, text))
    out = _EMAIL_RE.sub(EMAIL, out)
    out = _EXPIRY_RE.sub(lambda m: m.group("kw") + EXPIRY, out)
    out = _CODE_RE.sub(lambda m: m.group("kw") + CODE, out)
    out = _spoken_to_digits(out)
    out = _IBAN_RE.sub(IBAN, out)
    out = _IBAN_SPACED_RE.sub(_iban_spaced, out)
    out = _NIR_RE.sub(NIR, out)
    out = _CARD_RE.sub(_card, out)
    out = _PHONE_RE.sub(PHONE, out)
    out = _LONG_DIGITS_RE.sub(NUMBER, out)
    return out


def mask_caller(caller: str) -> str:
    """Show a caller id as '06 •• •• •• 78': enough to recognise a returning caller, not to dial."""
    if not caller:
        return "inconnu"
    if "•" in caller or caller in ("inconnu", "masqué"):
        return caller  # already masked (the pipeline masks before publishing)
    user = caller
    m = re.match(r"^(?:sips?:|tel:)?([^@;]+)", caller)
    if m:
        user = m.group(1)
    digits = re.sub(r"\D", "", user)
    if digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    if len(digits) < 4:
        return "masqué"
    return digits[:2] + " " + "•" * max(0, len(digits) - 4) + " " + digits[-2:]


TEXT_KEYS = ("text", "caller_text", "bot_text", "message", "told", "summary", "last_question")


def redact_data(data: dict) -> dict:
    """Redact the free-text fields of an event's data (text, caller_text, bot_text, message...).

    The caller id and keypad digits are masked.
    """
    out = dict(data)
    for key in TEXT_KEYS:
        if isinstance(out.get(key), str):
            out[key] = redact(out[key])
    if "caller" in out:
        out["caller"] = mask_caller(str(out["caller"]))
    if "digit" in out:  # a keypad digit may be part of a PIN or a card number
        out["digit"] = MASKED_DIGIT
    return out


def redact_event_data(type_: str, data: dict[str, Any], keep_raw: bool = False) -> dict[str, Any]:
    """The data of an event as it may leave the pipeline.

    ``keep_raw`` (``calls.store_raw_text``) adds the original texts under ``raw`` for the store's
    ``*_raw`` columns; without it nothing unredacted leaves.
    """
    out = redact_data(data)
    if type_ == "dtmf" and str(data.get("digit")) == "0":
        out["digit"] = "0"  # "0" asks for an agent: the monitor shows it; other digits stay masked
    if keep_raw:
        raw = {k: data[k] for k in (*TEXT_KEYS, "caller") if isinstance(data.get(k), str) and data[k] != out.get(k)}
        if raw:
            out["raw"] = raw
    return out


def redact_tree(value: Any, key: str = "") -> Any:
    """Every string in a JSON-like value redacted (ids and timestamps left as they are).

    Handoff cards, whose summary may come from an LLM, go through this before the store, the bus and the
    webhook.
    """
    if isinstance(value, dict):
        return {k: redact_tree(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_tree(v, key) for v in value]
    if isinstance(value, str) and not (key == "id" or key.endswith("_id") or key.endswith("_at")):
        return mask_caller(value) if key == "caller" else redact(value)
    return value


_QUERY_RE = re.compile(r"(/[\w./-]*)\?[^\s\"']*")


_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingLogFilter(logging.Filter):
    """Applied to every log record a voicebot process writes.

    Query strings are cut (they carry ``?caller=``), and the message and every ``extra=`` field go
    through ``redact``. Installed on the handler, so libraries' records (uvicorn access lines, pipecat)
    pass through it too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record as it is
            return True
        clean = redact(_QUERY_RE.sub(r"\1?…", message))
        if clean != message:
            record.msg, record.args = clean, None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and isinstance(value, (str, dict, list)):
                setattr(record, key, redact_tree(value, key))
        return True
