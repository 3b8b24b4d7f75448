"""The dialogue manager: one conversation's state and what to do with each caller utterance.

Shared by calls (pipeline/responder.py) and the text mode (`voicebot chat`), so both behave alike:
- a flow in progress (e.g. a dossier-status lookup, `flow.Flow`) gets every utterance and digit until done;
- intents: transfer request, goodbye/thanks (polite hang-up), yes/no to the bot's offer, repeat;
- follow-ups ("et pour un enfant ?") resolve against the scheme under discussion;
- a question naming only a family of schemes ("c'est combien le forfait ?") gets a clarifying question.
Answers come from any `Answerer` (llm.client's VoiceAnswerer); the knowledge answerer reads the hints put in
`AnswerMeta` (scheme, facet) and reports back the scheme answered and the offer made.
State changes only on `Reply.commit()`, so an early answer that is dropped leaves no trace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from voicebot.dialogue import intents
from voicebot.dialogue.flow import Flow, FlowReply
from voicebot.knowledge import lexicon
from voicebot.french.text import STOPWORDS, tokens
from voicebot.llm.client import AnswerMeta, VoiceAnswerer

log = logging.getLogger(__name__)

TRANSFER = "Je vous mets en relation avec un conseiller. Merci de patienter quelques instants."
GOODBYE = "Merci de votre appel. Au revoir, et bonne journée."
DECLINED = "Très bien. Avez-vous une autre question ?"
NOT_UNDERSTOOD = "Pardon, je n'ai pas bien compris. Pouvez-vous répéter ?"
NOTHING_TO_REPEAT = "Je n'ai encore rien dit. Quelle est votre question ?"
OFFER_PROMPT = {"conditions": "conditions pour en bénéficier", "price": "combien ça coûte, quel montant",
                "apply": "comment faire la demande", "dates": "jusqu'à quand, quelles dates",
                "contact": "numéro de téléphone"}
_FOLLOW_START = re.compile(r"^(?:(?:d'accord|ok|okay|oui|bon|ah|ben|bah|merci|tres bien|entendu|super)\s+)*"
                           r"(et|mais|et si|alors|aussi|pareil)\b")
_ANAPHORA = re.compile(r"\b(leur|leurs|son|sa|ses|ca|celui|celle|le perds|la perds|"
                       r"l'avoir|le faire|cette aide|ce forfait|ce dispositif|ce pret|cette carte)\b")
_GENERIC = {"aide", "aides", "region", "forfait", "etudes", "abonnement", "entreprise", "boite", "societe", "bourse",
            "passe", "pass", "transport", "transports", "carte", "voudrais", "voudrait", "savoir", "c'est",
            "cest", "info", "infos", "information", "informations", "renseignement", "renseignements", "mon",
            "ma", "mes", "une", "pour", "demander", "avoir", "obtenir", "cout", "coute", "prix", "montant",
            "combien", "tarif", "quoi", "sont", "existe", "exist", "quelles", "quels", "dispositif",
            "dispositifs"}


@dataclass
class DialogueState:
    """What the dialogue remembers between turns of one call: the scheme, the facet, pending offers."""

    scheme: str | None = None  # scheme under discussion
    facet: str | None = None  # what was last answered about it
    offer: str | None = None  # facet offered at the end of the last answer
    offered_human: bool = False  # the last answer offered an adviser
    clarify: tuple[str, str] | None = None  # (family, question) awaiting the caller's precision
    last_speech: str = ""
    flow: Flow | None = None
    queue: str | None = None  # agent queue of the topic (knowledge `queue` of the last source)
    turns: int = 0


@dataclass
class Reply:
    """What to say and do for one caller input. `pieces` streams an answer; else `speech` is said."""

    action: str  # answer | clarify | transfer | hangup
    intent: str
    speech: str = ""
    answer: str = ""
    pieces: AsyncIterator[str] | None = None
    meta: AnswerMeta = field(default_factory=AnswerMeta)
    reason: str = ""
    _on_commit: Callable[[DialogueState, list[str]], None] | None = None
    _manager: DialogueManager | None = None

    def commit(self, spoken: list[str] | None = None) -> None:
        """Apply this reply to the conversation state (once it was actually given)."""
        if self._manager is None:
            return
        state = self._manager.state
        said = " ".join(spoken) if spoken else self.speech
        if said:
            state.last_speech = said
        state.turns += 1
        if self._on_commit is not None:
            self._on_commit(state, spoken or [])


def prompt_history(history: list[dict[str, str]], turns: int) -> list[dict[str, str]]:
    """The previous turns the LLM sees: at most ``turns``, dropped from the oldest in blocks.

    An LLM server reuses the computed prompt prefix of the previous request (llama.cpp's prompt cache,
    vLLM's prefix caching). A window that slides by one turn each time changes the prefix every turn, so
    from turn ``turns + 1`` on the whole history is recomputed on every answer: 1.6-2.2 s more to the first
    token on 2 cores in the 10-turn single-call benchmark (concurrency_s4_after_fix.json, turns 8-10).
    Dropping half the window at once keeps the prefix for ``turns // 2`` answers out of each block.
    """
    if turns <= 0:
        return []
    n = len(history) // 2
    block = max(1, turns // 2)
    start = max(0, -(-(n - turns) // block) * block)
    return history[2 * start:]


class DialogueManager:
    """One per call (or chat session)."""

    def __init__(self, answerer: VoiceAnswerer | None, flows: list[Flow] | None = None,
                 history_turns: int = 6) -> None:
        self.answerer = answerer
        self.flows = list(flows or [])
        self.state = DialogueState()
        self.history: list[dict[str, str]] = []
        self.history_turns = history_turns

    # -- entry points ----------------------------------------------------------------------------
    async def respond(self, text: str) -> Reply:
        """The reply to one utterance (not yet committed: call `reply.commit(spoken)` once given)."""
        st = self.state
        if st.flow is not None:
            return self._from_flow(await st.flow.on_utterance(text), st.flow)
        offered = bool(st.offer or st.offered_human)
        intent = intents.classify(text, offered=offered)
        if intent == "empty":
            return self._fixed("answer", intent, NOT_UNDERSTOOD)
        if intent == "transfer":
            return self._fixed("transfer", intent, TRANSFER, reason="caller_request")
        if intent == "goodbye":
            return self._fixed("hangup", intent, GOODBYE, reason="goodbye")
        if intent == "repeat":
            return self._fixed("answer", intent, st.last_speech or NOTHING_TO_REPEAT, keep_offer=True)
        if intent == "yes":
            if st.offered_human:
                return self._fixed("transfer", intent, TRANSFER, reason="no_answer")
            if st.offer and st.scheme:
                return self._ask(f"{OFFER_PROMPT.get(st.offer, '')} {lexicon.BY_ID[st.scheme].name}",
                                 st.scheme, st.offer, intent)
        if intent == "no":
            return self._fixed("answer", intent, DECLINED)
        for flow in self.flows:
            if flow.detects(text):
                return self._from_flow(await flow.start(text), flow, starting=True)
        return self._question(text)

    async def dtmf(self, digits: str) -> Reply | None:
        """Keypad digits: to the active flow, else '0' asks for an adviser; other digits do nothing."""
        st = self.state
        if st.flow is not None:
            return self._from_flow(await st.flow.on_dtmf(digits), st.flow)
        if digits.strip().startswith("0"):
            return self._fixed("transfer", "dtmf", TRANSFER, reason="dtmf")
        return None

    def wants_early(self, text: str) -> bool:
        """Safe to start answering on a speculative transcript (a fresh question, nothing pending)."""
        st = self.state
        if st.flow is not None or st.clarify is not None or any(f.detects(text) for f in self.flows):
            return False
        return intents.classify(text, offered=bool(st.offer or st.offered_human)) == "question"

    # -- questions -------------------------------------------------------------------------------
    def _question(self, text: str) -> Reply:
        st = self.state
        text = intents.strip_reported(text)
        named = lexicon.best_scheme(text, 0.8)
        if st.clarify is not None:
            fam, original = st.clarify
            among = lexicon.FAMILIES[fam][1]
            choice = named if named in among else lexicon.cue_scheme(text, among)
            if choice:
                return self._ask(f"{original} {text}", choice, lexicon.facet(original), "question")
        current = st.scheme
        if not named and current and self._is_follow_up(text):
            context = f"{lexicon.BY_ID[current].name} {text}" if current in lexicon.BY_ID else text
            scheme = lexicon.best_scheme(context, 0.8) or current
            return self._ask(text, scheme, lexicon.facet(text) or st.facet, "follow_up")
        if not named:
            family = lexicon.family(text)
            if family and not self._discriminating(text):
                cue = lexicon.cue_scheme(text, lexicon.FAMILIES[family][1])
                if cue:
                    return self._ask(text, cue, lexicon.facet(text), "question")
                return self._clarify(family, text)
        return self._ask(text, None, None, "question")  # the answerer finds the scheme named itself

    @staticmethod
    def _is_follow_up(text: str) -> bool:
        t = lexicon.normalise(text)
        return bool(_FOLLOW_START.search(t)) or (len(t.split()) <= 8 and bool(_ANAPHORA.search(t)))

    @staticmethod
    def _discriminating(text: str) -> bool:
        """Words beyond the family word, the facet and small words (they may tell the scheme apart)."""
        words = [w for w in tokens(lexicon.normalise(text)) if w not in STOPWORDS and w not in _GENERIC
                 and len(w) > 2]
        return bool(words)

    def _clarify(self, fam: str, text: str) -> Reply:
        def on_commit(state: DialogueState, _: list[str]) -> None:
            state.clarify = (fam, text)
            state.offer, state.offered_human = None, False

        return Reply("clarify", "question", speech=lexicon.CLARIFY[fam], answer=lexicon.CLARIFY[fam],
                     _on_commit=on_commit, _manager=self)

    def _ask(self, question: str, scheme: str | None, facet: str | None, intent: str) -> Reply:
        meta = AnswerMeta()
        meta.scheme, meta.facet = scheme, facet
        if self.answerer is None:
            return self._fixed("answer", intent, NOT_UNDERSTOOD)
        history = prompt_history(self.history, self.history_turns)
        pieces = self.answerer.stream(question, history, meta)

        def on_commit(state: DialogueState, spoken: list[str]) -> None:
            state.clarify = None
            state.scheme = meta.scheme if meta.fallback != "no_answer" else state.scheme
            state.facet = meta.facet
            state.offer = meta.offer
            state.offered_human = meta.offer_human
            if meta.queue:
                state.queue = meta.queue
            self.history += [{"role": "user", "content": question},
                             {"role": "assistant", "content": " ".join(spoken) or "…"}]

        return Reply("answer", intent, pieces=pieces, meta=meta, _on_commit=on_commit, _manager=self)

    # -- fixed replies and flows -----------------------------------------------------------------
    def _fixed(self, action: str, intent: str, speech: str, *, reason: str = "", keep_offer: bool = False) -> Reply:
        def on_commit(state: DialogueState, _: list[str]) -> None:
            if not keep_offer:
                state.offer, state.offered_human = None, False
            if intent in ("no", "transfer", "goodbye"):
                state.clarify = None

        return Reply(action, intent, speech=speech, answer=speech, reason=reason, _on_commit=on_commit,
                     _manager=self)

    def _from_flow(self, fr: FlowReply, flow: Flow, starting: bool = False) -> Reply:
        def on_commit(state: DialogueState, _: list[str]) -> None:
            state.flow = None if fr.done else flow
            state.offer, state.offered_human, state.clarify = None, False, None

        reply = Reply(fr.action, f"flow:{flow.name}", speech=fr.speech, answer=fr.answer or fr.speech,
                      reason=f"flow:{flow.name}" if fr.action in ("transfer", "hangup") else "",
                      _on_commit=on_commit, _manager=self)
        reply.meta.sources = [{"flow": flow.name, **_safe_audit(fr.audit)}] if fr.audit else []
        return reply


def _safe_audit(audit: dict[str, Any]) -> dict[str, Any]:
    """Flows hand a redacted audit record; keep only plain values (it goes to the turn record)."""
    return {str(k): v for k, v in audit.items() if isinstance(v, (str, int, float, bool)) or v is None}
