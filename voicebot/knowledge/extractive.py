"""Extractive answerer: the best-matching sentences of the top passages, in French, without any LLM.

It is a backend of its own (`knowledge.backend = "extractive"`), the fallback when the LLM's answer
fails the grounding guard, and the answer when the LLM server is down. Everything it says is copied
from the passages of the version in force, so it is grounded by construction.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import numpy as np

from voicebot.french import phrases
from voicebot.french.dates import french_date
from voicebot.knowledge import figures, lexicon
from voicebot.knowledge.answer import Answer, AnswerStream
from voicebot.knowledge.documents import SearchHit
from voicebot.knowledge.embedding import Embedder
from voicebot.knowledge.retrieval import Retriever
from voicebot.knowledge.settings import KnowledgeSettings
from voicebot.french.text import sentences, stems

_LABELLED = re.compile(r"^([^:]{2,80}?)\s+:\s+(.+)$")
NATIONAL_SCHEMES_QUEUE = "other"


@dataclass
class Retrieved:
    """Passages kept for one question (the same scheme as the best hit), with the relevance verdict."""

    hits: list[SearchHit]
    relevant: bool
    relevance: float

    def passages_text(self) -> list[str]:
        return [context_of(h) for h in self.hits]


def context_of(hit: SearchHit) -> str:
    """A passage as the guard and the LLM see it: title, version date, heading, text."""
    c = hit.chunk
    since = french_date(c.effective_from) if c.effective_from else "date inconnue"
    return f"{c.title} (version en vigueur depuis le {since}) — {c.heading}\n{c.text}"


def sources_of(hits: list[SearchHit]) -> list[dict[str, object]]:
    seen: dict[str, dict[str, object]] = {}
    for h in hits:
        c = h.chunk
        if c.document_id not in seen:
            seen[c.document_id] = {"id": c.document_id, "title": c.title, "version": c.version,
                                   "effective_from": c.effective_from.isoformat() if c.effective_from else None,
                                   "url": c.source_url, "scheme": c.scheme}
    return list(seen.values())


class ExtractiveAnswerer:
    """Answers with sentences taken from the retrieved passages: no LLM, so nothing is invented."""

    def __init__(self, retriever: Retriever, embedder: Embedder | None, settings: KnowledgeSettings) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.settings = settings

    # -- retrieval shared with the LLM answerer ------------------------------------------------
    def retrieve(self, question: str, on_date: date, scheme: str | None = None) -> Retrieved:
        """Passages of one scheme: the one named (lexicon, or the dialogue's hint), else the best hit's."""
        detected = lexicon.detect_schemes(question)
        named = scheme or (detected[0][0] if detected and detected[0][1] >= 0.8 else None)
        strength = 1.0 if scheme else (detected[0][1] if detected else 0.0)
        query = lexicon.rewrite(question)
        if scheme and not any(s == scheme for s, _ in detected):
            query += " " + lexicon.BY_ID[scheme].name if scheme in lexicon.BY_ID else ""
        hits = self.retriever.search(query, on_date, max(self.settings.top_k, 12))
        if not hits:
            return Retrieved([], False, 0.0)
        if named:
            kept = [h for h in hits if h.chunk.scheme == named]
            if not kept and named in lexicon.BY_ID:
                extra = self.retriever.search(f"{lexicon.BY_ID[named].name} {query}", on_date, 30)
                kept = [h for h in extra if h.chunk.scheme == named]
            kept = kept[:4]
        else:
            kept = [h for h in hits if h.chunk.scheme == hits[0].chunk.scheme][:4]
        if not kept:
            return Retrieved([], False, 0.0)
        relevance = max(h.relevance for h in kept[:3])
        if named and strength >= 0.9:
            relevance += self.settings.named_scheme_bonus
        elif self.unknown_terms(question):
            relevance = min(relevance, self.settings.min_relevance - 0.01)  # it asks about what the base lacks
        return Retrieved(kept, relevance >= self.settings.min_relevance, relevance)

    def unknown_terms(self, question: str) -> list[str]:
        """Content words of the question that no document uses and the lexicon does not know."""
        words = [w for w in lexicon.normalise(question).replace("'", " ").split()
                 if len(w) >= 4 and not w.isdigit() and w not in lexicon.SYNONYMS
                 and w not in lexicon.COMMON_WORDS]
        terms = [t for t in stems(" ".join(words)) if len(t) >= 3]
        if not terms:
            return []
        df = self.retriever.store.term_frequencies(terms)
        return [t for t in terms if not df.get(t)]

    def no_answer(self, retrieved: Retrieved) -> Answer:
        return Answer(answer=phrases.NO_ANSWER, sources=[], grounded=False, fallback="no_answer",
                      chunks=[(h.chunk.id, h.score) for h in retrieved.hits], guard="skipped",
                      relevance=retrieved.relevance)

    # -- answering -----------------------------------------------------------------------------
    async def answer(self, question: str, on_date: date, scheme: str | None = None,
                     facet: str | None = None) -> Answer:
        return await asyncio.to_thread(self.answer_sync, question, on_date, None, scheme, facet)

    def answer_sync(self, question: str, on_date: date, retrieved: Retrieved | None = None,
                    scheme: str | None = None, facet: str | None = None) -> Answer:
        if not question.strip():
            return Answer(answer=phrases.EMPTY_QUESTION, fallback="no_answer")
        retrieved = retrieved or self.retrieve(question, on_date, scheme)
        if not retrieved.relevant:
            return self.no_answer(retrieved)
        picked = self.pick(question, retrieved.hits, facet or lexicon.facet(question))
        best = retrieved.hits[0].chunk
        display = picked.sentence
        if best.effective_from and best.effective_from.year > 1970:
            display += " " + phrases.IN_FORCE_SINCE.format(date=french_date(best.effective_from))
        offer = _offer(picked.facet, retrieved.hits)
        spoken = short_for_speech(picked.sentence, self.settings.spoken_max_words)
        if len(spoken.split()) < 6 and best.scheme in lexicon.BY_ID:
            spoken = f"Pour {lexicon.BY_ID[best.scheme].name}, {spoken[0].lower()}{spoken[1:]}"
        if offer:
            spoken += " " + lexicon.OFFER_QUESTION[offer]
        return Answer(answer=display, sources=sources_of(retrieved.hits), grounded=True, fallback=None,
                      chunks=[(h.chunk.id, h.score) for h in retrieved.hits], guard="skipped",
                      queue=best.queue, relevance=retrieved.relevance, spoken=spoken, scheme=best.scheme,
                      facet=picked.facet, offer=offer)

    def pick(self, question: str, hits: list[SearchHit], facet: str | None) -> Picked:
        """The one sentence that answers: lexical + dense match, the facet asked, the figure asked."""
        candidates: list[tuple[int, int, str, str, str | None]] = []  # hit, position, sentence, scored, facet
        labels: list[str] = []  # the list item's label each sentence belongs to ("Navigo Mois toutes zones")
        for hi, h in enumerate(hits):
            heading_facet = lexicon.heading_facet(h.chunk.heading_path[-1] if h.chunk.heading_path else "")
            label_context = " ".join(h.chunk.heading_path[1:])
            for si, (s, label) in enumerate(_labelled_sentences(h.chunk.text)):
                candidates.append((hi, si, s, f"{label_context} {s}", heading_facet))
                labels.append(label)
        if not candidates:
            return Picked(phrases.NO_ANSWER, None)
        asked = set(stems(question))
        query = lexicon.rewrite(question, with_scheme=False)
        weights = self.retriever.term_weights(list(dict.fromkeys(stems(query))))
        total = sum(weights.values()) or 1.0
        lexical = np.array([sum(w for t, w in weights.items() if t in set(stems(c[3]))) / total
                            for c in candidates])  # IDF-weighted: the rare words of the question decide
        dense = np.zeros(len(candidates))
        embedder = self.embedder
        if embedder is not None:
            qv = embedder.embed_queries([query])[0]
            dense = embedder.embed_passages([c[3] for c in candidates]) @ qv
        rank_bonus = np.array([0.08 * (len(hits) - c[0]) / len(hits) for c in candidates])
        intent = np.array([_intent_bonus(question, c[2]) for c in candidates])
        facet_bonus = np.array([(0.15 if facet and c[4] == facet else 0.0)
                                + (0.2 if facet and lexicon.label_facet(c[2]) == facet else 0.0)
                                for c in candidates])
        # An item whose label names what was asked ("Navigo Mois" for "le passe Navigo mois") beats a
        # sentence elsewhere that only shares a common word ("un mois de transport coûterait…").
        label_bonus = np.array([0.15 * len(asked & set(stems(lab))) / max(1, len(set(stems(lab))))
                                for lab in labels])
        score = 0.5 * dense + 0.5 * lexical + rank_bonus + intent + facet_bonus + label_bonus
        best = int(np.argmax(score))
        return Picked(_as_sentence(candidates[best][2]), candidates[best][4] or facet)

    def compose(self, question: str, hits: list[SearchHit]) -> str:
        """The display answer for `hits` (kept for callers of the former API)."""
        return self.pick(question, hits, lexicon.facet(question)).sentence

    def stream_answer(self, question: str, on_date: date, scheme: str | None = None,
                      facet: str | None = None) -> AnswerStream:
        async def produce(stream: AnswerStream) -> AsyncIterator[str]:
            ans = await self.answer(question, on_date, scheme, facet)
            stream.answer = ans
            stream.retrieved_at = time.monotonic()
            for piece in split_for_speech(ans.spoken or ans.answer):
                yield piece

        return AnswerStream(produce)


@dataclass
class Picked:
    """The sentence chosen to answer, and the facet of the scheme it answers."""

    sentence: str
    facet: str | None


def _offer(answered: str | None, hits: list[SearchHit]) -> str | None:
    """At most one follow-up offer, and only for a facet the scheme's passages hold."""
    wanted = lexicon.OFFERS.get(answered)
    have = {lexicon.heading_facet(h.chunk.heading_path[-1]) for h in hits if h.chunk.heading_path}
    return wanted if wanted in have and wanted != answered else None


def heard_words(text: str) -> int:
    """Words as heard: a figure ("384,30 €") is said in about three words."""
    return len(text.split()) + 2 * len(figures.extract(text))


def short_for_speech(sentence: str, max_words: int = 25) -> str:
    """At most about `max_words` heard words: cut at a clause boundary (' (', ';', ', soit', ' et ')."""
    if heard_words(sentence) <= max_words:
        return sentence
    for sep in (" (", " ; ", ", soit ", ", et ", ", "):
        parts = sentence.split(sep)
        head = parts[0]
        for part in parts[1:]:  # keep as many clauses as fit
            if heard_words(head + sep + part) > max_words:
                break
            head += sep + part
        if 5 <= len(head.split()) and heard_words(head) <= max_words and head != sentence:
            return head.rstrip(" ,;:") + "."
    words = sentence.split()
    while words and heard_words(" ".join(words)) > max_words:
        words.pop()
    return " ".join(words).rstrip(" ,;:") + "."


_WANTS_PHONE = re.compile(r"\b(num[eé]ro|t[eé]l[eé]phone|appeler|joindre|contacter)\b", re.IGNORECASE)
_WANTS_DATE = re.compile(r"\b(quand|date|jusqu'?[àa] quand|d[eé]lai|avant le)\b", re.IGNORECASE)
_WANTS_FIGURE = re.compile(
    r"\b(combien|montant|prix|co[uû]t\w*|tarif\w*|plafond|maximum|minimum|euros?|pourcent\w*|taux|âge|ans)\b",
    re.IGNORECASE,
)


def missing_figure(question: str, sentence: str) -> bool:
    """True when the question asks for a phone number, a date or an amount that `sentence` lacks."""
    keys = figures.keys(sentence)
    if _WANTS_PHONE.search(question):
        return not any(k.startswith("tel:") for k in keys)
    if _WANTS_DATE.search(question):
        return not any(k.startswith("d:") for k in keys)
    if _WANTS_FIGURE.search(question):
        return not any(k.startswith("n:") for k in keys)
    return False


_ITEM_LABEL = re.compile(r"^\s*[-*]\s*([^:.]{2,60}?)\s*:\s")


def _labelled_sentences(text: str) -> list[tuple[str, str]]:
    """Sentences line by line, each with the label of the list item it belongs to ('' outside items)."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = _ITEM_LABEL.match(line)
        label = m.group(1) if m else ""
        out.extend((s, label) for s in sentences(line))
    return out


def _intent_bonus(question: str, sentence: str) -> float:
    """Favour sentences carrying the kind of figure the question asks for (amount, phone, date)."""
    keys = figures.keys(sentence)
    bonus = 0.0
    if _WANTS_PHONE.search(question) and any(k.startswith("tel:") for k in keys):
        bonus += 0.5
    if _WANTS_DATE.search(question) and any(k.startswith("d:") for k in keys):
        bonus += 0.3
    if _WANTS_FIGURE.search(question) and re.search(r"\d\s*(€|%|euros?|M€|ans\b|mois\b)", sentence):
        bonus += 0.25
    return bonus


def _as_sentence(s: str) -> str:
    s = s.strip()
    m = _LABELLED.match(s)
    if m:
        s = f"{m.group(1)} : {m.group(2)}"
    if not s.endswith((".", "!", "?", "»")):
        s += "."
    return s


def split_for_speech(text: str) -> list[str]:
    """Sentence pieces for TTS (a piece ends at . ! ? followed by a space)."""
    return [p for p in re.split(r"(?<=[.!?])\s+", text) if p.strip()]
