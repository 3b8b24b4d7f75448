""""Où en est mon dossier ?": the dossier status flow of the dialogue (implements dialogue.flow.Flow).

Steps: the dossier number (spoken or keyed), read back for a yes/no, then the postcode, asked *before*
anything about the dossier is said; the back-office checks the pair itself and answers "not found" for
an unknown number and a wrong postcode alike, so the bot has nothing to leak. Three failed checks (or
three inputs not understood) lead to an offer of a human agent. A slow, down or broken back-office gets
a short apology and the same offer: never a crash or silence. Every lookup is audited (redacted).
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from typing import Any

from voicebot.backoffice import spoken
from voicebot.backoffice.models import BackofficeError, DossierStatus, mask_number
from voicebot.backoffice.settings import BackofficeSettings
from voicebot.dialogue.flow import FlowReply

log = logging.getLogger(__name__)

ASK_NUMBER = ("Je peux regarder où en est votre dossier. Quel est son numéro ? Vous pouvez le dire, ou le "
              "taper sur le clavier puis appuyer sur dièse.")
NUMBER_AGAIN = ("Je n'ai pas compris le numéro. Il commence par I D F, puis l'année et six chiffres. "
                "Quel est le numéro de votre dossier ?")
CONFIRM = "J'ai noté le dossier {ear}. Est-ce bien cela ?"
CONFIRM_AGAIN = "Le numéro {ear} est-il le bon ? Répondez par oui ou par non."
NUMBER_RETRY = "D'accord. Redonnez-moi le numéro de votre dossier, s'il vous plaît."
ASK_POSTCODE = ("Merci. Pour vérifier qu'il s'agit bien de votre dossier, quel est le code postal de "
                "l'adresse indiquée dans votre demande ?")
POSTCODE_AGAIN = "Je n'ai pas compris le code postal, qui a cinq chiffres. Quel est-il ?"
NO_MATCH = ("Je ne peux rien vous indiquer avec ces informations : le numéro ou le code postal ne correspond "
            "pas. Redonnez-moi le numéro de votre dossier, s'il vous plaît.")
TOO_MANY = "Je ne parviens pas à vérifier ces informations. Voulez-vous que je vous passe un conseiller ?"
UNAVAILABLE = ("Désolé, je ne peux pas consulter les dossiers pour le moment. Voulez-vous que je vous passe "
               "un conseiller, ou préférez-vous rappeler plus tard ?")
TRANSFER = "Je vous passe un conseiller, ne quittez pas."
DECLINED = "D'accord, vous pourrez rappeler plus tard. Puis-je vous aider pour autre chose ?"
CANCELLED = "D'accord, je laisse votre dossier de côté. Puis-je vous aider pour autre chose ?"
OFFER_AGAIN = "Souhaitez-vous parler à un conseiller ? Répondez par oui ou par non."

_STATUS_WORDS = (r"o[uù] en (?:est|sont)|où ça en est|avancement|avance|suivi|suivre|[ée]tat|statut|"
                 r"nouvelles|trait[ée]e?s?|instruit|instruction|re[çc]u|pay[ée]e?|vers[ée]e?|vire?ment|"
                 r"r[ée]ponse|bloqu[ée]e?|en attente|toujours rien|pas encore|accept[ée]e?|valid[ée]e?|"
                 r"refus[ée]e?|manque|dossier n[°o]|num[ée]ro de dossier")
_MY_FILE = r"\b(?:mon|ma|notre|mes|le|la) (?:dossier|demande|candidature|aide|subvention|remboursement)s?\b"
_DETECT = [
    re.compile(rf"{_MY_FILE}.*\b(?:{_STATUS_WORDS})", re.I),
    re.compile(rf"\b(?:{_STATUS_WORDS})\b.*{_MY_FILE}", re.I),
    re.compile(r"\b(?:o[uù]|qu'en est-il) (?:en est|de) (?:mon|ma) (?:dossier|demande)\b", re.I),
    re.compile(r"\bIDF[\s-]*\d{4}", re.I),
    # "où en est mon dossier" as speech-to-text writes it ("où un aima dossier", "où on est le dossier"):
    # "où" then up to three words then "dossier", unless "où" asks where to do something ("où envoyer").
    # "dossier" as it also comes back: "d'ocier", "d'ossier", "dosier", "dossié".
    re.compile(r"\bo[uù]\s+(?![\w']+(?:er|ir|re)\b)(?:[\w']+\W+){0,3}?"
               r"(?:dossiers?|d'?o(?:ss|s|c|ç)i(?:er|é)s?)\b", re.I),
]
_NOT_STATUS = re.compile(r"\b(?:comment|pour) (?:constituer|d[ée]poser|faire|remplir|monter|cr[ée]er)\b|"
                         r"\bquels? (?:documents?|pi[èe]ces?)\b.*\b(?:fournir|faut|demand)|\bcombien\b.*\bco[ûu]te?\b",
                         re.I)
_HUMAN = re.compile(r"\b(?:parler|passer|joindre|avoir)\b.*\b(?:conseill(?:er|ère)|quelqu'un|humain|"
                    r"une personne|agent)\b", re.I)
_CANCEL = re.compile(r"\b(?:laissez tomber|laisse tomber|annule[rz]?|peu importe|tant pis|"
                     r"plus tard|au revoir|une autre question)\b", re.I)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text or "").replace("’", "'").strip()


class DossierStatusFlow:
    """One conversation's dossier status task; make one per call (the lookup and client are shared)."""

    name = "dossier_status"

    def __init__(self, lookup: Any, settings: BackofficeSettings, *, call_id: str = "",
                 tool: str = "getDossierStatus"):
        self.lookup = lookup  # DirectLookup | ToolCallingLookup: async lookup(number, postcode)
        self.settings = settings
        self.call_id = call_id
        self.tool = tool
        self._reset()

    def _reset(self) -> None:
        self.state = "ask_number"
        self.number: str | None = None
        self.verify_failures = 0
        self.misunderstood = 0
        self.rejected = 0  # read-backs the caller said were wrong
        self.offer_prompts = 0
        self.keys = ""
        self.told = ""  # what the caller was last told about the dossier (for a handoff card)

    # --- Flow protocol ------------------------------------------------------------------------------
    def detects(self, text: str) -> bool:
        t = _norm(text)
        if not t or _NOT_STATUS.search(t) and not re.search(r"o[uù] en est", t, re.I):
            return False
        return any(p.search(t) for p in _DETECT)

    async def start(self, text: str) -> FlowReply:
        self._reset()
        number = spoken.parse_dossier_number(_norm(text), self.settings.number_prefixes)
        if number:
            return self._confirm(number)
        return self._say(ASK_NUMBER)

    async def on_utterance(self, text: str) -> FlowReply:
        t = _norm(text)
        if self.state == "offer_human":
            return self._on_offer(spoken.yes_no(t) if not _HUMAN.search(t) else True)
        if _HUMAN.search(t):
            return self._transfer()
        if _CANCEL.search(t):
            return self._done(CANCELLED, action="answer")
        if self.state == "ask_number":
            return self._on_number(spoken.parse_dossier_number(t, self.settings.number_prefixes))
        if self.state == "confirm":
            number = spoken.parse_dossier_number(t, self.settings.number_prefixes)
            if number and number != self.number:
                return self._confirm(number)  # a correction said instead of yes/no
            yes, postcode = spoken.yes_no(t), spoken.parse_postcode(t)
            if yes and postcode:  # "oui, et mon code postal est le 93200"
                self.state = "ask_postcode"
                return await self._on_postcode(postcode)
            return self._on_confirm(yes)
        return await self._on_postcode(spoken.parse_postcode(t))

    async def on_dtmf(self, digits: str) -> FlowReply:
        """A keypad digit: '*' clears the entry, '#' ends it; 10 digits (number) or 5 (postcode) end it too.

        1/2 answer yes/no to a read-back or an offer. An unfinished entry gets an empty reply (nothing to
        say yet).
        """
        for key in digits:
            if key == "*":
                self.keys = ""
            elif key.isdigit() or key == "#":
                self.keys += key
        if self.state in ("confirm", "offer_human"):  # 1 = oui, 2 = non; a new number comes after "non"
            key, self.keys = self.keys[:1], ""
            yes = {"1": True, "2": False}.get(key)
            return self._on_confirm(yes) if self.state == "confirm" else self._on_offer(yes)
        need = {"ask_number": 10, "ask_postcode": 5}.get(self.state, 0)
        entry = self.keys.rstrip("#")
        if not self.keys.endswith("#") and len(entry) < need:
            return FlowReply(speech="", action="clarify")
        self.keys = ""
        if self.state == "ask_postcode":
            return await self._on_postcode(entry if re.fullmatch(r"\d{5}", entry) else None)
        number = spoken.parse_dossier_number(entry, self.settings.number_prefixes) if entry else None
        return self._confirm(number) if number else self._on_number(None)

    # --- steps ---------------------------------------------------------------------------------------
    def _on_number(self, number: str | None) -> FlowReply:
        if number:
            return self._confirm(number)
        return self._misunderstood(NUMBER_AGAIN)

    def _confirm(self, number: str) -> FlowReply:
        self.number, self.state, self.misunderstood = number, "confirm", 0
        return self._say(CONFIRM.format(ear=spoken.number_for_ear(number)),
                         answer=CONFIRM.format(ear=mask_number(number)))

    def _on_confirm(self, yes: bool | None) -> FlowReply:
        assert self.number is not None
        if yes is None:
            return self._misunderstood(CONFIRM_AGAIN.format(ear=spoken.number_for_ear(self.number)),
                                       answer=CONFIRM_AGAIN.format(ear=mask_number(self.number)))
        self.misunderstood = 0
        if yes:
            self.state = "ask_postcode"
            return self._say(ASK_POSTCODE)
        self.rejected += 1
        if self.rejected >= self.settings.max_failures:
            return self._offer(TOO_MANY)
        self.state, self.number = "ask_number", None
        return self._say(NUMBER_RETRY)

    async def _on_postcode(self, postcode: str | None) -> FlowReply:
        if postcode is None:
            return self._misunderstood(POSTCODE_AGAIN)
        assert self.number is not None
        self.misunderstood = 0
        started = time.monotonic()
        try:
            result = await self.lookup.lookup(self.number, postcode)
            status, via, note = result.status, result.via, result.note
            outcome = "found" if status is not None else "not_found"
        except BackofficeError as e:
            status, via, note, outcome = None, "direct", str(e)[:200], e.outcome
        except ValueError as e:  # arguments refused by the OpenAPI description (cannot happen after parsing)
            status, via, note, outcome = None, "direct", str(e)[:200], "bad_argument"
        masked = mask_number(self.number)
        reply = self._after_lookup(outcome, status)  # may end the flow (and forget the number)
        audit = {"tool": self.tool, "outcome": outcome, "dossier": masked, "via": via,
                 "ms": round((time.monotonic() - started) * 1000), "told": reply.answer or reply.speech}
        if note:
            audit["note"] = note
        log.info("back-office lookup", extra={"call_id": self.call_id, **{k: audit[k] for k in
                                              ("tool", "outcome", "dossier", "via", "ms")}})
        return FlowReply(reply.speech, reply.action, reply.done, reply.answer, audit)

    def _after_lookup(self, outcome: str, status: DossierStatus | None) -> FlowReply:
        if status is not None:
            speech, answer = status_sentences(status, self.settings.upload_hint)
            self.told = answer
            return self._done(speech, answer=answer)
        if outcome == "not_found":
            self.verify_failures += 1
            self.told = "Vérification échouée : rien n'a été communiqué sur le dossier."
            if self.verify_failures >= self.settings.max_failures:
                return self._offer(TOO_MANY)
            self.state, self.number = "ask_number", None
            return self._say(NO_MATCH)
        self.told = "Le service des dossiers ne répondait pas : rien n'a été communiqué."
        return self._offer(UNAVAILABLE)

    def _offer(self, text: str) -> FlowReply:
        self.state, self.offer_prompts = "offer_human", 0
        return self._say(text)

    def _on_offer(self, yes: bool | None) -> FlowReply:
        if yes:
            return self._transfer()
        if yes is None and self.offer_prompts == 0:
            self.offer_prompts += 1
            return self._say(OFFER_AGAIN)
        return self._done(DECLINED, action="answer")

    def _misunderstood(self, text: str, answer: str = "") -> FlowReply:
        self.misunderstood += 1
        if self.misunderstood >= self.settings.max_failures:
            return self._offer(TOO_MANY)
        return self._say(text, answer=answer)

    def _transfer(self) -> FlowReply:
        audit = {"tool": self.tool, "outcome": "transfer",
                 "dossier": mask_number(self.number) if self.number else "", "told": self.told}
        self._reset_after_done()
        return FlowReply(TRANSFER, action="transfer", done=True, audit=audit)

    def _done(self, speech: str, *, action: str = "answer", answer: str = "") -> FlowReply:
        self._reset_after_done()
        return FlowReply(speech, action=action, done=True, answer=answer)  # type: ignore[arg-type]

    def _reset_after_done(self) -> None:
        told = self.told
        self._reset()
        self.told = told

    def _say(self, speech: str, *, answer: str = "") -> FlowReply:
        return FlowReply(speech, action="clarify", answer=answer)


def status_sentences(s: DossierStatus, upload_hint: str) -> tuple[str, str]:
    """(speech, display): one sentence of status and date, one of what is missing and how to send it."""
    def first(date_fmt, money_fmt) -> str:
        if s.amount_paid is not None and s.paid_on is not None:
            return (f"Votre dossier {s.scheme} est {s.status} : {money_fmt(s.amount_paid)} versés "
                    f"{date_fmt(s.paid_on)}.")
        return f"Votre dossier {s.scheme} est {s.status} depuis {date_fmt(s.last_step_date)}."

    parts_speech = [first(spoken.date_words, spoken.euros_words)]
    parts_text = [first(spoken.date_text, spoken.euros_text)]
    if s.missing_documents:
        docs = s.missing_documents
        listed = docs[0] if len(docs) == 1 else ", ".join(docs[:-1]) + " et " + docs[-1]
        label = "Pièce manquante" if len(docs) == 1 else "Pièces manquantes"
        missing = f"{label} : {listed}, à envoyer {upload_hint}."
        parts_speech.append(missing)
        parts_text.append(missing)
    return " ".join(parts_speech), " ".join(parts_text)


def build_flow(settings: Any, *, call_id: str = "") -> DossierStatusFlow | None:
    """The flow for one conversation from the whole Settings, or None when no back-office is set.

    With llm.backend = openai (vLLM) lookups go through the model's tool calling; otherwise direct.
    """
    from voicebot.backoffice import tools

    bo: BackofficeSettings | None = getattr(settings, "backoffice", None)
    if bo is None or not bo.base_url:
        return None
    client = shared_client(bo)
    if settings.llm.backend == "openai":
        lookup: Any = tools.ToolCallingLookup(client, base_url=settings.llm.base_url, api_key=settings.llm.api_key,
                                              model=settings.llm.model,
                                              timeout_s=min(settings.llm.first_token_timeout_s, 8.0))
    else:
        lookup = tools.DirectLookup(client)
    return DossierStatusFlow(lookup, bo, call_id=call_id, tool=bo.status_operation)


_CLIENTS: dict[str, Any] = {}


def shared_client(bo: BackofficeSettings):
    """One client (breaker, token cache, description) per back-office configuration and process."""
    from voicebot.backoffice.client import BackofficeClient

    key = bo.model_dump_json()
    if key not in _CLIENTS:
        _CLIENTS[key] = BackofficeClient(bo)
    return _CLIENTS[key]
