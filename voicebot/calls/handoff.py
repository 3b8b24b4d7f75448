"""Handoff card: what a human agent needs so the caller never repeats themselves.

Built from the stored (redacted) turns when a call is transferred: reason, the caller's need in one
sentence, a short French summary (extractive, or from an OpenAI-compatible LLM when configured),
facts the bot already gave with their sources, open questions, and the full redacted transcript.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from voicebot.calls.alerts import NOT_UNDERSTOOD_GUARDS, _NOT_UNDERSTOOD_BOT_RE, _PERSON_RE, fold
from voicebot.french.redaction import redact

log = logging.getLogger(__name__)

REASONS_FR = {
    "caller_request": "L'appelant a demandé un conseiller",
    "dtmf": "L'appelant a tapé 0",
    "no_answer": "Le bot n'a pas trouvé de réponse",
    "supervisor": "Transfert décidé par un superviseur",
}
_GREETING_RE = re.compile(r"^(allo|allô|bonjour|bonsoir|oui|merci|au revoir|d'accord|ok)[\s,.!?]*$")


@dataclass
class HandoffCard:
    """What the agent who takes the call needs to know, built when the bot hands the caller over."""

    id: str
    call_id: str
    created_at: float
    reason: str  # machine reason: caller_request | dtmf | no_answer | supervisor
    reason_label: str  # French, for the agent
    queue: str
    caller: str  # masked
    need: str  # one sentence
    summary: str  # short French summary
    summary_source: str  # "extractive" | "llm"
    facts: list[dict[str, Any]] = field(default_factory=list)  # {text, sources, turn}
    open_questions: list[str] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)  # {turn, speaker, text, ts}
    started_at: float | None = None
    turns: int = 0
    dossier: dict[str, Any] | None = None  # last back-office lookup: reference (masked), outcome, told


    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _first_sentence(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    s = m.group(1) if m else text
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def _source_label(src: Any) -> str:
    if isinstance(src, dict):
        return str(src.get("title") or src.get("id") or src.get("url") or src.get("source") or "")
    return str(src)


def _is_unanswered(turn: dict) -> bool:
    guard = str(turn.get("guard") or "").lower()
    return guard in NOT_UNDERSTOOD_GUARDS or bool(_NOT_UNDERSTOOD_BOT_RE.search(fold(turn.get("bot_text", ""))))


def _is_substantive(text: str) -> bool:
    t = fold(text).strip()
    return bool(t) and not _GREETING_RE.match(t) and not _PERSON_RE.search(t) and len(t.split()) >= 3


def build_handoff(call: dict[str, Any], turns: list[dict[str, Any]], *, reason: str, queue: str = "",
                  handoff_id: str | None = None, now: float | None = None,
                  lookups: list[dict[str, Any]] | None = None) -> HandoffCard:
    """Extractive card from redacted turns and the call's back-office lookups.

    Turns: turn, caller_text, bot_text, sources, guard, ended_at; lookups: ``lookup`` events, the last
    one is carried on the card.
    """
    turns = sorted(turns, key=lambda t: t.get("turn", 0))
    caller_lines = [(t, redact(t.get("caller_text") or "")) for t in turns if (t.get("caller_text") or "").strip()]
    substantive = [(t, c) for t, c in caller_lines if _is_substantive(c)]
    if substantive:
        need_text = max(substantive[:3], key=lambda tc: len(tc[1]))[1]
        need = f"L'appelant veut savoir : « {_first_sentence(need_text, 200)} »"
    elif caller_lines:
        need = f"L'appelant a dit : « {_first_sentence(caller_lines[-1][1], 200)} »"
    else:
        need = "L'appelant n'a pas exprimé de demande avant le transfert."

    facts: list[dict[str, Any]] = []
    open_questions: list[str] = []
    for t in turns:
        bot = redact(t.get("bot_text") or "")
        caller = redact(t.get("caller_text") or "")
        if _is_unanswered(t):
            if caller.strip() and _is_substantive(caller):
                open_questions.append(_first_sentence(caller, 200))
        elif bot.strip() and t.get("sources"):
            facts.append({"turn": t.get("turn"), "text": _first_sentence(bot, 240),
                          "sources": [s for s in (_source_label(x) for x in t["sources"]) if s]})
    last = substantive[-1] if substantive else None
    if last and not _is_unanswered(last[0]) and not (last[0].get("bot_text") or "").strip():
        open_questions.append(_first_sentence(last[1], 200))  # asked, then transferred before any answer
    if reason == "no_answer" and last and _first_sentence(last[1], 200) not in open_questions:
        open_questions.append(_first_sentence(last[1], 200))

    transcript: list[dict[str, Any]] = []
    for t in turns:
        if (t.get("caller_text") or "").strip():
            transcript.append({"turn": t.get("turn"), "speaker": "appelant", "text": redact(t["caller_text"]),
                               "ts": t.get("started_at") or t.get("ended_at")})
        if (t.get("bot_text") or "").strip():
            transcript.append({"turn": t.get("turn"), "speaker": "bot", "text": redact(t["bot_text"]),
                               "ts": t.get("ended_at")})

    label = REASONS_FR.get(reason, f"Transfert ({reason})")
    card = HandoffCard(
        id=handoff_id or uuid.uuid4().hex, call_id=call["id"], created_at=now or time.time(), reason=reason,
        reason_label=label, queue=queue, caller=call.get("caller", ""), need=need, summary="",
        summary_source="extractive", facts=facts, open_questions=open_questions, transcript=transcript,
        started_at=call.get("started_at"), turns=len(turns), dossier=_dossier(lookups),
    )
    card.summary = extractive_summary(card, call)
    return card


def _dossier(lookups: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The last dossier lookup of the call, as the agent needs it (reference already masked)."""
    found = [x for x in lookups or [] if x.get("dossier")]
    if not found:
        return None
    last = found[-1]
    return {"reference": str(last["dossier"]), "outcome": str(last.get("outcome", "")),
            "told": redact(str(last.get("told") or ""))}


def extractive_summary(card: HandoffCard, call: dict[str, Any]) -> str:
    """Three short French sentences made of what was said (no generation)."""
    parts: list[str] = []
    started = call.get("started_at")
    minutes = max(0, int(((card.created_at - started) if started else 0) // 60))
    duree = f"{minutes} min" if minutes else "moins d'une minute"
    parts.append(f"Appel de {duree}, {card.turns} échange{'s' if card.turns > 1 else ''} avec le bot.")
    parts.append(card.need.rstrip(".") + ".")
    if card.facts:
        srcs = sorted({s for f in card.facts for s in f["sources"]})
        parts.append(f"Le bot a déjà répondu : {card.facts[-1]['text'].rstrip('.')}"
                     + (f" (sources : {', '.join(srcs[:3])})." if srcs else "."))
    if card.dossier:
        told = (card.dossier["told"] or card.dossier["outcome"]).rstrip(".")
        parts.append(f"Dossier {card.dossier['reference']} consulté ; dit à l'appelant : {told}.")
    if card.open_questions:
        parts.append(f"Reste sans réponse : « {card.open_questions[-1]} ».")
    parts.append(card.reason_label + ".")
    return " ".join(parts)


class LlmSummariser:
    """Ask an OpenAI-compatible server (vLLM, llama.cpp) for the summary.

    The caller falls back to the extractive one when it fails or is slow. Only redacted text is sent.
    """

    def __init__(self, base_url: str, model: str = "", api_key: str = "none", timeout_s: float = 4.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._transport = transport

    async def summarise(self, card: HandoffCard) -> str:
        lines = "\n".join(f"{'Appelant' if x['speaker'] == 'appelant' else 'Bot'} : {x['text']}"
                          for x in card.transcript[-30:])
        body = {
            "model": self.model or "default",
            "temperature": 0.2,
            "max_tokens": 160,
            "messages": [
                {"role": "system", "content": "Tu résumes des appels pour un conseiller du service public. "
                 "Réponds en français, en deux ou trois phrases factuelles, sans inventer."},
                {"role": "user", "content": f"Motif du transfert : {card.reason_label}.\nTranscription :\n{lines}\n"
                 "Résumé pour le conseiller :"},
            ],
        }
        async with httpx.AsyncClient(timeout=self.timeout_s, transport=self._transport) as client:
            r = await client.post(f"{self.base_url}/chat/completions", json=body,
                                  headers={"Authorization": f"Bearer {self.api_key}"})
            r.raise_for_status()
            text = r.json()["choices"][0]["message"]["content"].strip()
        if not text:
            raise ValueError("empty summary")
        return redact(text)


async def summarise_card(card: HandoffCard, summariser: LlmSummariser | None) -> HandoffCard:
    """Replace the extractive summary with the LLM's when one is configured and answers in time."""
    if summariser is None:
        return card
    try:
        card.summary = await summariser.summarise(card)
        card.summary_source = "llm"
    except Exception as exc:  # keep the extractive summary: the agent must get a card anyway
        log.warning("handoff_llm_summary_failed",
                    extra={"call_id": card.call_id, "error": f"{type(exc).__name__}: {exc}"})
    return card
