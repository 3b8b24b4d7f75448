"""`kb eval`: retrieval and answer quality on a JSONL set of caller questions.

Each line: {"id", "question", "date", "expect_document" (id of the version in force, or null when the
bot must refuse), "expect_facts" [...], "forbidden_facts" [...], "category", "expect_refusal"}.
A fact with figures matches when all its normalised figures are in the answer; otherwise it must appear
as folded text.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

from voicebot.knowledge import figures, lexicon
from voicebot.french.text import fold


class EvalFileError(ValueError):
    """The eval file is unreadable; the message names the line."""


@dataclass
class EvalItem:
    """One evaluation question with what a right answer must (and must not) contain."""

    id: str
    question: str
    on_date: date
    expect_document: str | None
    expect_facts: list[str]
    forbidden_facts: list[str]
    category: str
    expect_refusal: bool
    refusal_ok: bool = False  # e.g. an injection wrapped around a real question: refusing is fine too
    expect_scheme: str | None = None  # the answer must be about this scheme
    context: list[str] = field(default_factory=list)  # earlier caller turns (follow-up questions)


@dataclass
class EvalReport:
    """Scores of one answering backend over an evaluation file."""

    backend: str
    n: int = 0
    hit1: float = 0.0
    hit5: float = 0.0
    mrr: float = 0.0
    fact_accuracy: float = 0.0
    spoken_fact_accuracy: float = 0.0  # the expected facts are in what the caller hears
    wrong_scheme_rate: float = 0.0
    median_spoken_words: float = 0.0
    max_spoken_words: int = 0
    forbidden_rate: float = 0.0
    grounded_rate: float = 0.0
    correct_refusals: float = 0.0
    false_refusals: float = 0.0
    llm_guard_passed: float | None = None
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    relevances: list[tuple[float, bool]] = field(default_factory=list)  # (relevance, should answer)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("relevances",)}
        return d

    def lines(self) -> list[str]:
        out = [
            f"Évaluation ({self.backend}) sur {self.n} questions",
            f"  recherche   : hit@1 {self.hit1:.3f}   hit@5 {self.hit5:.3f}   MRR {self.mrr:.3f}",
            f"  réponses    : faits attendus {self.fact_accuracy:.3f}   faits interdits {self.forbidden_rate:.3f}"
            f"   ancrées {self.grounded_rate:.3f}",
            f"  à l'oral    : faits entendus {self.spoken_fact_accuracy:.3f}   mots (médiane) "
            f"{self.median_spoken_words:.0f}   max {self.max_spoken_words}   mauvais dispositif "
            f"{self.wrong_scheme_rate:.3f}",
            f"  refus       : corrects {self.correct_refusals:.3f}   à tort {self.false_refusals:.3f}",
            f"  latence     : p50 {self.latency_p50_ms:.0f} ms   p95 {self.latency_p95_ms:.0f} ms",
        ]
        if self.llm_guard_passed is not None:
            out.append(f"  garde LLM   : réponses du LLM acceptées {self.llm_guard_passed:.3f}")
        for f in self.failures[:40]:
            out.append(f"  ✗ {f['id']} [{f['category']}] {f['why']}")
        return out


def load(path: Path) -> list[EvalItem]:
    items: list[EvalItem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EvalFileError(f"{path} : lecture impossible ({exc.strerror})") from exc
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            items.append(EvalItem(
                id=str(raw.get("id", no)), question=str(raw["question"]),
                on_date=date.fromisoformat(raw["date"]) if raw.get("date") else date.today(),
                expect_document=raw.get("expect_document"), expect_facts=list(raw.get("expect_facts", [])),
                forbidden_facts=list(raw.get("forbidden_facts", [])), category=str(raw.get("category", "")),
                expect_refusal=bool(raw.get("expect_refusal", raw.get("expect_document") is None)),
                refusal_ok=bool(raw.get("refusal_ok", False)), expect_scheme=raw.get("expect_scheme"),
                context=[str(c) for c in raw.get("context", [])],
            ))
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            raise EvalFileError(f"{path}:{no} : ligne invalide ({exc})") from exc
    if not items:
        raise EvalFileError(f"{path} : aucune question")
    return items


def has_fact(answer: str, fact: str) -> bool:
    """All the fact's figures are in the answer with the same unit ('80 %' is not '80 €'), else its text."""
    wanted = figures.unit_keys(fact)
    if wanted:
        have = figures.unit_keys(answer)
        return all(figures.supported(f, have) for f in wanted)
    return fold(fact) in fold(answer)


@dataclass
class TurnResult:
    """One evaluated question as the dialogue manager answered it."""

    answer: str
    speech: str
    action: str
    refused: bool
    scheme: str | None
    grounded: bool
    guard: str | None
    fallback: str | None


async def ask_plain(service: Any, item: EvalItem, backend: str) -> TurnResult:
    """The question alone to the answerer (no dialogue: context turns are not played)."""
    ans = await service.answer(item.question, item.on_date, backend=backend)
    return TurnResult(answer=ans.answer, speech=ans.spoken or ans.answer, action="answer",
                      refused=ans.fallback == "no_answer", scheme=ans.scheme, grounded=ans.grounded,
                      guard=ans.guard, fallback=ans.fallback)


Ask = Callable[[Any, EvalItem, str], Awaitable[TurnResult]]


def spoken_words(text: str) -> int:
    """Words the caller hears (after the French speech normaliser when it is installed)."""
    from voicebot.french.speech import to_speech

    return len(to_speech(text).split())


async def run(service: Any, items: list[EvalItem], backend: str, ask: Ask | None = None) -> EvalReport:
    """`ask`: how a question is put (`voicebot kb eval` uses the dialogue manager, as a call does)."""
    ask, report = ask or ask_plain, EvalReport(backend=backend, n=len(items))
    answerable = [i for i in items if not i.expect_refusal]
    refusals = [i for i in items if i.expect_refusal]
    h1 = h5 = rr = 0.0
    facts_ok = spoken_ok = forbidden = grounded = answered = correct_ref = false_ref = wrong_scheme = 0
    llm_answers = llm_passed = 0
    latencies: list[float] = []
    words: list[int] = []
    extractive = service.answerer("extractive")
    for item in items:
        hits = service.search(lexicon.rewrite(item.question), item.on_date, 5)
        t0 = time.perf_counter()
        ans = await ask(service, item, backend)
        latencies.append((time.perf_counter() - t0) * 1000)
        why: list[str] = []
        if item.expect_document and not item.context:
            docs = [h.chunk.document_id for h in hits]
            rank = docs.index(item.expect_document) + 1 if item.expect_document in docs else None
            if not item.expect_refusal:
                h1 += rank == 1
                h5 += rank is not None and rank <= 5
                rr += 1.0 / rank if rank else 0.0
        if not item.refusal_ok and not item.context:
            relevance = extractive.retrieve(item.question, item.on_date).relevance
            report.relevances.append((relevance, not item.expect_refusal))
        if item.expect_refusal:
            correct_ref += ans.refused
            if not ans.refused:
                why.append(f"aurait dû refuser ({ans.action})")
        elif ans.refused and item.refusal_ok:
            facts_ok += 1
            spoken_ok += 1
        else:
            false_ref += ans.refused
            if ans.refused:
                why.append("refus à tort")
            elif ans.action != "answer":
                why.append(f"action {ans.action} au lieu d'une réponse")
            scheme_ok = not item.expect_scheme or ans.scheme == item.expect_scheme
            if not scheme_ok:
                wrong_scheme += 1
                why.append(f"dispositif {ans.scheme} au lieu de {item.expect_scheme}")
            ok = not ans.refused and ans.action == "answer" and scheme_ok
            if ok and all(has_fact(ans.answer, f) for f in item.expect_facts):
                facts_ok += 1
            elif not ans.refused:
                why.append("faits manquants " + str([f for f in item.expect_facts if not has_fact(ans.answer, f)]))
            if ok and all(has_fact(ans.speech, f) for f in item.expect_facts):
                spoken_ok += 1
        bad = [f for f in item.forbidden_facts if has_fact(ans.answer, f) or has_fact(ans.speech, f)]
        if bad:
            forbidden += 1
            why.append(f"fait interdit {bad}")
        if not ans.refused and ans.action == "answer":
            answered += 1
            words.append(spoken_words(ans.speech))
            grounded += ans.grounded
            if backend == "llm":
                llm_answers += 1
                llm_passed += ans.fallback is None
        if why:
            report.failures.append({"id": item.id, "category": item.category, "why": "; ".join(why),
                                    "answer": ans.answer[:200], "speech": ans.speech[:200], "guard": ans.guard})
    na, n_direct = len(answerable) or 1, len([i for i in answerable if not i.context]) or 1
    report.hit1, report.hit5, report.mrr = h1 / n_direct, h5 / n_direct, rr / n_direct
    report.fact_accuracy = facts_ok / na
    report.spoken_fact_accuracy = spoken_ok / na
    report.wrong_scheme_rate = wrong_scheme / na
    report.forbidden_rate = forbidden / len(items)
    report.grounded_rate = grounded / (answered or 1)
    report.correct_refusals = correct_ref / (len(refusals) or 1)
    report.false_refusals = false_ref / na
    report.median_spoken_words, report.max_spoken_words = (statistics.median(words), max(words)) if words else (0, 0)
    if backend == "llm":
        report.llm_guard_passed = llm_passed / (llm_answers or 1)
    _latencies(report, latencies)
    return report


def _latencies(report: EvalReport, latencies: list[float]) -> None:
    latencies.sort()
    report.latency_p50_ms = latencies[len(latencies) // 2]
    report.latency_p95_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]


def calibrate(relevances: list[tuple[float, bool]], wrong_answer_cost: float = 2.0) -> tuple[float, float]:
    """Threshold minimising errors; returns (threshold, share of correct decisions).

    An answer to an out-of-scope question costs twice a false refusal (a wrong answer is worse than none).
    """
    best_t, best_cost = 0.0, float("inf")
    values = sorted({round(r, 3) for r, _ in relevances})
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(values)] or values
    for t in candidates:
        cost = sum(wrong_answer_cost if (r >= t and not should) else (1.0 if (r < t and should) else 0.0)
                   for r, should in relevances)
        if cost < best_cost:
            best_t, best_cost = t, cost
    accuracy = sum((r >= best_t) == should for r, should in relevances) / len(relevances)
    return round(best_t, 3), accuracy
