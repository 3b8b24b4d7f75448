"""Version history per scheme and detection of changed values between versions.

A scheme's documents, ordered by `effective_from`, form its history; a version is in force until its
declared `effective_until` or the next version's start. Statements are compared field by field: a field
is a bullet label ("- Plafond de la subvention : …") under its section heading. A field whose figures
(amounts, rates, dates, ages, thresholds: see `figures.py`) differ from the last version that stated it
is a discrepancy; lines that appear or disappear in a section both versions have are recorded too
(eligibility changes).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from voicebot.french.dates import MONTH_NUMBER
from voicebot.knowledge import figures
from voicebot.knowledge.documents import Discrepancy, Document
from voicebot.french.text import fold

_MONTH_WORD = re.compile(r"\b(" + "|".join(m for m in MONTH_NUMBER if m.isascii()) + r")\b")

_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_LABELLED = re.compile(r"^[-*+]\s+([^:]{2,80}?)\s+:\s+(.+)$")


@dataclass(frozen=True)
class Statement:
    """One labelled fact of a document version ("Montant : 1 300 €"), compared across versions."""

    section: str
    label: str
    value: str

    @property
    def field(self) -> str:
        return f"{self.section} › {self.label}" if self.section else self.label


def history(docs: list[Document]) -> dict[str, list[Document]]:
    """Documents grouped by scheme, oldest first."""
    by_scheme: dict[str, list[Document]] = defaultdict(list)
    for d in docs:
        by_scheme[d.scheme].append(d)
    return {s: sorted(v, key=lambda d: (d.effective_from, d.id)) for s, v in sorted(by_scheme.items())}


def validity_windows(docs: list[Document]) -> dict[str, date | None]:
    """End of validity of each document: its declared end, else the next version's start."""
    out: dict[str, date | None] = {}
    for versions in history(docs).values():
        for i, d in enumerate(versions):
            nxt = versions[i + 1].effective_from if i + 1 < len(versions) else None
            ends = [e for e in (d.effective_until, nxt) if e is not None]
            out[d.id] = min(ends) if ends else None
    return out


def in_force(docs: list[Document], scheme: str, on: date) -> Document | None:
    """The version of `scheme` in force on `on` (None before the first one or after the last ended)."""
    windows = validity_windows(docs)
    for d in reversed(history(docs).get(scheme, [])):
        end = windows[d.id]
        if d.effective_from <= on and (end is None or on < end):
            return d
    return None


def statements(doc: Document) -> list[Statement]:
    """Labelled bullet lines of a document with their section (level-2+ heading)."""
    out: list[Statement] = []
    section = ""
    for line in doc.body.splitlines():
        m = _HEADING.match(line)
        if m:
            if len(m.group(1)) >= 2:
                section = m.group(2).strip()
            continue
        lm = _LABELLED.match(line.strip())
        if lm:
            out.append(Statement(section, lm.group(1).strip(), lm.group(2).strip()))
    return out


def detect(docs: list[Document]) -> list[Discrepancy]:
    """All value changes between consecutive statements of each field, per scheme."""
    found: list[Discrepancy] = []
    for scheme, versions in history(docs).items():
        last: dict[str, tuple[Statement, Document]] = {}
        for doc in versions:
            current = {_key(s): s for s in statements(doc)}
            sections_now = {fold(s.section) for s in current.values()}
            for key, st in current.items():
                if key in last:
                    prev, prev_doc = last[key]
                    change = _compare(prev.value, st.value)
                    if change:
                        found.append(_make(scheme, st.field, change, prev.value, prev_doc, st.value, doc))
                elif _seen_section(last, st.section) and prev_doc_of(last, st.section) is not None:
                    p_doc = prev_doc_of(last, st.section)
                    found.append(_make(scheme, st.field, "added", "", p_doc, st.value, doc))  # type: ignore[arg-type]
            for key, (prev, prev_doc) in list(last.items()):
                if key not in current and fold(prev.section) in sections_now and prev_doc is _latest(last):
                    found.append(_make(scheme, prev.field, "removed", prev.value, prev_doc, "", doc))
                    del last[key]
            for key, st in current.items():
                last[key] = (st, doc)
    return found


def prev_doc_of(last: dict[str, tuple[Statement, Document]], section: str) -> Document | None:
    docs = [d for s, d in last.values() if fold(s.section) == fold(section)]
    return max(docs, key=lambda d: d.effective_from) if docs else None


def _seen_section(last: dict[str, tuple[Statement, Document]], section: str) -> bool:
    return any(fold(s.section) == fold(section) for s, _ in last.values())


def _latest(last: dict[str, tuple[Statement, Document]]) -> Document | None:
    docs = [d for _, d in last.values()]
    return max(docs, key=lambda d: d.effective_from) if docs else None


def _key(s: Statement) -> str:
    return fold(s.section) + "|" + fold(s.label)


def _compare(old: str, new: str) -> str | None:
    """Kind of change between two values of one field, or None when they say the same."""
    old_figs, new_figs = figures.extract(old), figures.extract(new)
    old_keys, new_keys = {f.key for f in old_figs}, {f.key for f in new_figs}
    if old_keys != new_keys:
        changed = old_keys ^ new_keys
        # The kind comes from the figures that changed, with a little context after each.
        context = " ".join(_around(text, f.text) for text, figs in ((old, old_figs), (new, new_figs))
                           for f in figs if f.key in changed)
        return _kind(context or (old + " " + new))
    if fold(figures.mask(old)) != fold(figures.mask(new)) and _content_changed(old, new):
        return "text"
    return None


def _around(text: str, fig: str) -> str:
    i = text.find(fig)
    return text[i:i + len(fig) + 14] if i >= 0 else fig


def _content_changed(old: str, new: str) -> bool:
    a = set(re.findall(r"\w+", fold(old)))
    b = set(re.findall(r"\w+", fold(new)))
    return len(a ^ b) >= 1


def _kind(text: str) -> str:
    t = fold(text)
    if "€" in text or "euro" in t:
        return "amount"
    if "%" in t:
        return "rate"
    if _MONTH_WORD.search(t):
        return "date"
    if re.search(r"\bans?\b", t):
        return "age"
    if re.search(r"salari|habitant|mois|jours|heures|emplois", t):
        return "threshold"
    return "number"


def _make(scheme: str, field: str, kind: str, old: str, old_doc: Document, new: str, new_doc: Document) -> Discrepancy:
    return Discrepancy(
        scheme=scheme, field=field, kind=kind,
        old_value=old, old_date=old_doc.effective_from, old_document=old_doc.id, old_source=old_doc.source_url,
        new_value=new, new_date=new_doc.effective_from, new_document=new_doc.id, new_source=new_doc.source_url,
    )
