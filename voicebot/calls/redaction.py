"""PII redaction of transcripts before they are stored or shown.

Written here rather than taken from a library: the French formats (phone numbers as Whisper writes
them, NIR, IBAN, cards checked with Luhn) are few and precise, and general PII libraries pull in NLP
models we cannot ship. Order matters: the longest structured numbers are replaced first.
"""

from __future__ import annotations

import re

PHONE = "[TÉLÉPHONE]"
EMAIL = "[E-MAIL]"
IBAN = "[IBAN]"
CARD = "[CARTE]"
NIR = "[NIR]"
NUMBER = "[NUMÉRO]"
DOSSIER = "[DOSSIER]"

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


def redact(text: str) -> str:
    """Return text with dossier numbers, French phone numbers, e-mails, IBANs, cards and NIRs replaced."""
    if not text:
        return text
    out = _DOSSIER_RE.sub(DOSSIER, text)
    out = _EMAIL_RE.sub(EMAIL, out)
    out = _IBAN_RE.sub(IBAN, out)
    out = _NIR_RE.sub(NIR, out)
    out = _CARD_RE.sub(_card, out)
    out = _PHONE_RE.sub(PHONE, out)
    out = _LONG_DIGITS_RE.sub(NUMBER, out)
    return out


def mask_caller(caller: str) -> str:
    """Show a caller id as '06 •• •• •• 78': enough to recognise a returning caller, not to dial."""
    if not caller:
        return "inconnu"
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


def redact_data(data: dict) -> dict:
    """Redact the free-text fields of an event's data (text, caller_text, bot_text, message)."""
    out = dict(data)
    for key in ("text", "caller_text", "bot_text", "message", "told"):
        if isinstance(out.get(key), str):
            out[key] = redact(out[key])
    if "caller" in out:
        out["caller"] = mask_caller(str(out["caller"]))
    return out
