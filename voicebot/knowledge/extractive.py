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
from voicebot.french.text import fold, sentences, stems

_LABELLED = re.compile(r"^([^:]{2,80}?)\s+:\s+(.+)$")
NATIONAL_SCHEMES_QUEUE = "other"


@dataclass
class Retrieved:
    """Passages kept for one question (the same scheme as the best hit), with the relevance verdict."""

    hits: list[SearchHit]
    relevant: bool
    relevance: float
    # What refused it: "low_relevance", or the rule that overrode a relevant enough score ("unknown_words",
    # "foreign", "named_off_topic"); None when relevant (benchmarks/refusal_reasons.py counts these).
    refused_by: str | None = None

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
            return Retrieved([], False, 0.0, "low_relevance")
        if named:
            kept = [h for h in hits if h.chunk.scheme == named]
            if not kept and named in lexicon.BY_ID:
                extra = self.retriever.search(f"{lexicon.BY_ID[named].name} {query}", on_date, 30)
                kept = [h for h in extra if h.chunk.scheme == named]
            kept = kept[:4]
        else:
            kept = [h for h in hits if h.chunk.scheme == hits[0].chunk.scheme][:4]
        if not kept:
            return Retrieved([], False, 0.0, "low_relevance")
        relevance = max(h.relevance for h in kept[:3])
        rule = None  # a rule that refuses whatever the score
        if named and strength >= 0.9:
            # The caller named the scheme: its passages answer unless the question is about a problem the
            # base never mentions. Long or familiar questions dilute the relevance score, not the name.
            relevance += self.settings.named_scheme_bonus
            if self.off_topic_problem(question, hits) or foreign_subject(question, kept):
                rule = "named_off_topic"
            else:
                relevance = max(relevance, self.settings.min_relevance)
        elif self.unknown_terms(question, hits):
            rule = "unknown_words"  # it asks about what the base lacks
        elif foreign_subject(question, kept) or self.foreign_field(question, on_date, kept[0].chunk.scheme):
            rule = "foreign"
        floor = self.settings.min_relevance
        if rule:
            refused_by = rule if relevance >= floor or rule == "named_off_topic" else "low_relevance"
            return Retrieved(kept, False, min(relevance, floor - 0.01), refused_by)
        return Retrieved(kept, relevance >= floor, relevance, None if relevance >= floor else "low_relevance")

    def unknown_terms(self, question: str, hits: list[SearchHit] | None = None) -> list[str]:
        """Content words of the question that no document uses and the lexicon does not know.

        Question words ("pourcentage", "délai") are not topics; a word sharing its first five letters with
        a word of the passages found ("revends" / "revente") is known.
        """
        words = [w for w in content_words(question) if w not in lexicon.SYNONYMS and w not in lexicon.alias_words()]
        terms = [t for t in stems(" ".join(words)) if len(t) >= 3]
        if not terms:
            return []
        df = self.retriever.store.term_frequencies(terms)
        near = stem_keys([t for h in hits or [] for t in stems(h.chunk.indexed_text())])
        return [t for t in terms if not df.get(t) and not (len(t) >= 5 and t[:5] in near)]

    def off_topic_problem(self, question: str, hits: list[SearchHit]) -> bool:
        """A named scheme, but a problem the base never mentions and no facet asked: a near miss.

        "mon passe navigo ne passe plus aux portiques, il est démagnétisé, je fais quoi": Navigo is named,
        so its price would be read out; the caller asks about a fault no document covers.
        """
        return (lexicon.facet(question) is None and not _WANTS_FIGURE.search(question)
                and bool(self.unknown_terms(question, hits)))

    def foreign_field(self, question: str, on_date: date, scheme: str) -> bool:
        """A field of study or trade the question names that the guessed scheme's documents never mention.

        "une bourse pour une école de commerce": "bourse" leads to a bourse of the base, but commerce is
        no field of any of them (the word exists elsewhere in the base, so it is not an unknown word).
        """
        m = _FIELD.search(lexicon.normalise(question))
        if not m:
            return False
        terms = [t for t in stems(m.group(1)) if len(t) >= 4]
        if not terms:
            return False
        ids = [cid for cid, _ in self.retriever.store.lexical_search(terms, on_date, 50)]
        return not any(c.scheme == scheme for c in self.retriever.store.chunks(ids))

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
        first, second = picked.sentence, picked.extra
        if second and missing_figure(question, first) and not missing_figure(question, second):
            first, second = second, first  # the sentence with the figure asked comes first
        first = premise_reply(question, first) + first
        display = f"{first} {second}" if second else first
        if best.effective_from and best.effective_from.year > 1970:
            display += " " + phrases.IN_FORCE_SINCE.format(date=french_date(best.effective_from))
        offer = _offer(picked.facet, retrieved.hits)
        spoken = short_for_speech(first, self.settings.spoken_max_words)
        if second and heard_words(f"{spoken} {second}") <= self.settings.spoken_max_words:
            spoken = f"{spoken} {second}"
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
        query = lexicon.rewrite(question, with_scheme=False, scheme=hits[0].chunk.scheme)
        asked = set(stems(query))
        weights = self.retriever.term_weights(list(dict.fromkeys(stems(query))))
        total = sum(weights.values()) or 1.0
        keys = [stem_keys(stems(c[3])) for c in candidates]
        lexical = np.array([sum(w for t, w in weights.items() if matches(t, k)) / total
                            for k in keys])  # IDF-weighted: the rare words of the question decide
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
        label_bonus = np.array([0.25 * sum(matches(t, stem_keys(asked)) for t in set(stems(lab)))
                                / max(1, len(set(stems(lab)))) for lab in labels])
        score = 0.5 * dense + 0.5 * lexical + rank_bonus + intent + facet_bonus + label_bonus
        best = int(np.argmax(score))
        other = _complement(best, [c[0] for c in candidates], keys, weights, score, question)
        extra = _as_sentence(candidates[other][2]) if other is not None else None
        return Picked(_as_sentence(candidates[best][2]), candidates[best][4] or facet, extra)

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
    extra: str | None = None  # a sentence of the same passage that answers what the first leaves out


def _complement(best: int, hit_of: list[int], keys: list[set[str]], weights: dict[str, float],
                score: np.ndarray, question: str) -> int | None:
    """A second sentence of the best one's passage, when it alone holds a rare word of the question.

    "je suis au RSA, j'ai droit aux transports gratuits ?": the public (RSA) and the advantage (gratuits)
    are two items of one section; the caller needs both.
    """
    asked_words = {w for w in lexicon.normalise(question).replace("'", " ").split()
                   if w in lexicon.COMMON_WORDS or lexicon.is_question_word(w)}
    plain = set(stems(" ".join(asked_words)))
    content = {t: w for t, w in weights.items() if len(t) >= 4 and t not in plain}
    covered = [w for t, w in content.items() if matches(t, keys[best])]
    missing = {t: w for t, w in content.items() if not matches(t, keys[best])}
    if not covered or not missing:
        return None
    floor = 0.7 * max(covered)
    options = [i for i in range(len(keys)) if i != best and hit_of[i] == hit_of[best]
               and any(w >= floor and matches(t, keys[i]) for t, w in missing.items())]
    return max(options, key=lambda i: score[i]) if options else None


def _offer(answered: str | None, hits: list[SearchHit]) -> str | None:
    """At most one follow-up offer, and only for a facet the scheme's passages hold."""
    wanted = lexicon.OFFERS.get(answered)
    have = {lexicon.heading_facet(h.chunk.heading_path[-1]) for h in hits if h.chunk.heading_path}
    return wanted if wanted in have and wanted != answered else None


def content_words(question: str) -> list[str]:
    """The words that carry the question's subject: no small, common, number or question words."""
    return [w for w in lexicon.normalise(question).replace("'", " ").replace("-", " ").split()
            if len(w) >= 4 and not w.isdigit() and w not in lexicon.COMMON_WORDS and w not in lexicon.NUMBER_WORDS
            and w not in lexicon.IDF_PLACES
            and not lexicon.is_question_word(w)]


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


# "école de commerce", "des études d'architecte", "une formation en informatique": the field asked about.
_FIELD = re.compile(r"\b(?:ecole|etudes|formation|cursus|master|licence|bts|prepa|diplome)s?\s+(?:de |d'|en |du )"
                    r"(?:la |l')?([a-z][a-z-]{3,})")
_ITEM_LABEL = re.compile(r"^\s*[-*]\s*([^:.]{2,60}?)\s*:\s")


def _labelled_sentences(text: str) -> list[tuple[str, str]]:
    """Sentences line by line, each with the label of the list item it belongs to ('' outside items)."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = _ITEM_LABEL.match(line)
        label = m.group(1) if m else ""
        out.extend((s, label) for s in sentences(line))
    return out


_WANTS_PERCENT = re.compile(r"\b(pourcent\w*|pour cent|taux)\b|%", re.IGNORECASE)
_WANTS_AGE = re.compile(r"\b(quel [aâ]ge|[aâ]ge (minimum|maximum|limite))\b", re.IGNORECASE)
_COUNT_OF = re.compile(r"\bcombien de ([a-zà-ÿ]{4,})", re.IGNORECASE)
_ASKS_REDUCTION = re.compile(r"\b(r[ée]duction|remise|rabais|ristourne)s?\b", re.IGNORECASE)
_MONEY = re.compile(r"\d\s*(€|euros?\b|M€|Md€)")


def _intent_bonus(question: str, sentence: str) -> float:
    """Favour sentences carrying the kind of figure asked: phone, date, percentage, age, count, or amount."""
    keys = figures.keys(sentence)
    bonus = 0.0
    if _WANTS_PHONE.search(question) and any(k.startswith("tel:") for k in keys):
        bonus += 0.5
    if _WANTS_DATE.search(question) and any(k.startswith("d:") for k in keys):
        bonus += 0.3
    count = _COUNT_OF.search(question)
    if _WANTS_PERCENT.search(question):
        bonus += 0.35 if "%" in sentence else 0.0
    elif _WANTS_AGE.search(question):
        bonus += 0.3 if re.search(r"\d+\s*ans\b", sentence) else 0.0
    elif count and count.group(1).lower() not in ("temps", "fois", "mois", "jours", "annees", "années"):
        bonus += 0.35 if re.search(rf"\d[\d\s]*\s+(de\s+)?{re.escape(fold(count.group(1))[:5])}",
                                   fold(sentence)) else 0.0
    elif _WANTS_FIGURE.search(question) or lexicon.facet(question) == "price":
        if _MONEY.search(sentence) or (_ASKS_REDUCTION.search(question) and "%" in sentence):
            bonus += 0.3  # an amount; for "combien la réduction", a rate answers as well as an amount
        elif re.search(r"\d\s*(%|ans\b|mois\b)", sentence):
            bonus += 0.1
        elif not re.search(r"gratuit", sentence, re.IGNORECASE):
            bonus -= 0.2  # an amount is asked: a sentence without one does not answer
    return bonus


def premise_reply(question: str, sentence: str) -> str:
    """"Oui. " or "Non. " when the caller states an amount or a rate ("c'est 2 000 euros, c'est ça ?")."""
    stated = [(f.key, f.unit) for f in figures.extract(question) if f.key.startswith("n:") and f.unit in ("€", "%")]
    if not stated:
        return ""
    have = figures.unit_keys(sentence)
    if all(figures.supported(f, have) for f in stated):
        return "Oui. "
    units = {u for _, u in stated}
    return "Non. " if any(k.startswith("n:") and u in units for k, u in have) else ""


def stem_keys(words: list[str] | set[str]) -> set[str]:
    """Stems and their five-letter prefixes: 'revend' (revends) meets 'revent' (revente)."""
    return set(words) | {w[:5] for w in words if len(w) >= 5}


def matches(term: str, keys: set[str]) -> bool:
    return term in keys or (len(term) >= 5 and term[:5] in keys)


_PRICE_OF = re.compile(r"\b(?:montant|prix|cout|tarif|plafond)\s+(?:du |de la |de l'|des |de |d')(?:un |une )?"
                       r"([a-z][\w-]{2,})")
_PRICED_WORDS = frozenset("aide aides prime primes bourse bourses subvention subventions forfait forfaits passe pass "
                          "carte cartes abonnement abonnements ticket tickets pret prets cheque cheques reduction "
                          "remboursement dispositif".split())


def foreign_subject(question: str, hits: list[SearchHit]) -> bool:
    """'le montant du RSA': the thing whose price is asked is nothing the passages price (a near miss)."""
    m = _PRICE_OF.search(lexicon.normalise(question))
    if not m or m.group(1) in _PRICED_WORDS or lexicon.detect_schemes(question[m.start():], exact_only=True):
        return False
    head = stems(f"{m.group(1)} {lexicon.SYNONYMS.get(m.group(1), '')}")
    if m.group(1) in lexicon.alias_words():
        return False
    priced = [s for h in hits for s in sentences(h.chunk.text) if _MONEY.search(s) or "%" in s]
    return not any(matches(t, stem_keys(stems(s))) for s in priced for t in head)


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
