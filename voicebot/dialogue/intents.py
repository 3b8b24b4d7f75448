"""What a caller's utterance is for: a question, a transfer request, goodbye, yes/no, repeat.

Pure functions on text (tested as tables in tests/unit/test_dialogue_intents.py). A transfer needs a
request for a person ("je voudrais parler à un conseiller", "passez-moi quelqu'un", "un conseiller s'il
vous plaît"), not a mention of one ("le conseiller général m'a dit", "mon agent immobilier",
"quelqu'un m'a dit").
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Intent = Literal["question", "transfer", "goodbye", "yes", "no", "repeat", "empty"]


def fold(text: str) -> str:
    """Lower case, no accents, plain apostrophes, punctuation as spaces."""
    text = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w' -]", " ", text).split())


_FILLERS = r"(?:euh+|heu+|ben|bah|alors|oui|non|bonjour|madame|monsieur|s'il vous plait|svp|merci|du coup|voila|" \
           r"je vous prie|rapidement|tout de suite|maintenant|plutot|direct(?:ement)?)"
_PERSON = r"(?:un |une |le |la |a un |a une |avec un |avec une |)(?:vrai |vraie |)" \
          r"(?:conseill(?:er|ere)|agent|operat(?:eur|rice)|humain|personne|standard(?:iste)?|" \
          r"interlocut(?:eur|rice)|quelqu'un)"
# "conseiller général", "agent immobilier", "quelqu'un m'a dit": a person mentioned, not asked for.
_QUALIFIED = re.compile(
    r"\b(conseill(?:er|ere)s? (?:general|generale|generaux|municipal|municipale|regional|regionale|"
    r"departemental|departementale|d'orientation|principal|principale|financier|bancaire|clientele|"
    r"de (?:la |l'|ma |mon |pole|france|mission))|agents? (?:immobiliers?|d'assurances?|de (?:la |l')?"
    r"(?:ratp|sncf|police|securite|station|accueil de la gare)|administratif|commercial|secret)|"
    r"(?:quelqu'un|une personne|un conseiller|le conseiller|la conseillere|un agent|l'agent) "
    r"(?:m'a|m'ont|nous a|lui a|a) (?:dit|conseille|explique|parle|appele|donne|envoye)|"
    r"(?:mon|ma|notre|son|sa|leur) (?:conseill(?:er|ere)|agent))\b"
)
_REQUEST = re.compile(
    r"\b(?:parler|passer|transferer|mettre en (?:relation|contact)|joindre|avoir|voudrais|veux|voulais|"
    r"souhaite|souhaiterais|aimerais|demande|besoin d'|faut)"
    r"(?: (?:parler|me|moi|vous|bien|tout|de|d'|a|au|avec|en|relation|contact|plutot|directement|pouvoir|"
    r"pourriez|pouvez))* ?" + _PERSON + r"\b"
    r"|\b(?:passez|passe|mettez|transferez)[- ]moi\b"
    r"|^(?:" + _FILLERS + r" )*" + _PERSON + r"(?: " + _FILLERS + r")*$"
    r"|\b(?:je veux|je voudrais|je souhaite) (?:un|une) (?:humain|vraie personne|vrai conseiller)\b"
)
_GOODBYE = re.compile(
    r"\b(au revoir|bonne (?:journee|soiree|fin de journee|apres-midi)|a bientot|c'est tout|ce sera tout|"
    r"rien d'autre|ca ira|ca sera tout|j'ai ce qu'il me faut|je raccroche|bye|adieu|merci beaucoup|"
    r"merci bien|merci pour (?:tout|votre aide|l'information|les informations|ces informations)|"
    r"merci c'est gentil|c'est bon merci|parfait merci|tres bien merci|ok merci|d'accord merci|merci)\b"
)
_YES = re.compile(r"^(?:(?:oui|ouais|ouai|volontiers|d'accord|ok|okay|bien sur|avec plaisir|je veux bien|"
                  r"s'il vous plait|svp|merci|allez-y|allez y|vas-y|tout a fait|absolument|carrement|"
                  r"pourquoi pas|oui oui|c'est ca|euh|ben|bah)\b ?)+$")
_NO = re.compile(r"^(?:(?:non|pas besoin|pas du tout|surtout pas|ca ira|ca va|non merci|c'est bon|pas la peine|non c'est bon|"
                 r"merci|euh|ben|bah|ca ira merci)\b ?)+$")
_REPEAT = re.compile(r"\b(repeter|repetez|redire|redites|repetes|pas (?:bien )?(?:compris|entendu)|"
                     r"vous avez dit quoi|qu'est-ce que vous avez dit|encore une fois|plait-il)\b"
                     r"|^(?:pardon|comment|quoi|hein)$")
_CONTENT = re.compile(r"[a-z]{4,}")
_GOODBYE_WORDS = re.compile(
    r"\b(merci|beaucoup|bien|au|revoir|bonne|journee|soiree|fin|de|apres-midi|a|bientot|c'est|tout|ce|sera|"
    r"rien|d'autre|ca|ira|j'ai|ce|qu'il|me|faut|je|raccroche|bye|adieu|pour|votre|aide|l'information|les|"
    r"informations|ces|gentil|bon|parfait|tres|ok|d'accord|oui|non|madame|monsieur|euh|voila|alors|ben|"
    r"bah|vous|aussi|et|c'etait|clair|super|top|nickel)\b")


# How telephone-band Whisper writes short replies (benchmarks/stt_short_replies.py: "No mercy", "Oui,
# silvoupla", "Toute affaire", "Pas de tout", "d'accords merci", "No Saïha"), read back as said. Only
# for short utterances, where a reply is expected and these spellings cannot be anything else.
_REPLY_SPELLINGS = [(re.compile(p), r) for p, r in (
    (r"\bno\b", "non"), (r"\bmercy\b", "merci"), (r"\bd'accords\b", "d'accord"),
    (r"\b(?:w |)(?:sil ?vou ?pla\w*|silvoupla\w*|sylvo[- ]?pla\w*|sil vous plait)\b", "s'il vous plait"),
    (r"\btoute? affaire\b", "tout a fait"), (r"\bpas de tout\b", "pas du tout"),
    (r"\b(?:non|no) (?:sa[iy]+ha|saira|ca y ra)\b", "non ca ira"))]


def _as_said(t: str) -> str:
    if len(t.split()) > 5:
        return t
    for pattern, said in _REPLY_SPELLINGS:
        t = pattern.sub(said, t)
    return t


def classify(text: str, *, offered: bool = False) -> Intent:
    """The caller's intent; `offered`: the bot's last turn ended with a yes/no offer."""
    t = _as_said(fold(text))
    if not t:
        return "empty"
    if asks_for_human(t):
        return "transfer"
    if _REPEAT.search(t) and len(t.split()) <= 8:
        return "repeat"
    if offered and _YES.match(t):
        return "yes"
    if offered and _NO.match(t) and not _GOODBYE_ONLY(t, strict=True):
        return "no"
    if _GOODBYE.search(t) and _GOODBYE_ONLY(t):
        return "goodbye"
    if offered and _NO.match(t):
        return "no"
    return "question"


def _GOODBYE_ONLY(t: str, strict: bool = False) -> bool:  # noqa: N802 - reads as a predicate table
    """Nothing but thanks and goodbye words (a 'merci, et pour un enfant ?' is a question)."""
    rest = _GOODBYE_WORDS.sub(" ", t)
    if strict:
        return bool(re.search(r"\b(au revoir|bonne journee|bonne soiree|a bientot|c'est tout|rien d'autre)\b", t)) \
            and not _CONTENT.search(rest)
    return not _CONTENT.search(rest)


def asks_for_human(text: str) -> bool:
    """A request to speak to a person; mentions of people ("le conseiller général m'a dit") are not."""
    t = fold(text)
    cleaned = _QUALIFIED.sub(" ", t)
    return bool(_REQUEST.search(" ".join(cleaned.split())))


_REPORTED = re.compile(
    r"^.{0,60}?\b(?:m'a|m'ont|nous a|on m'a|a) (?:dit|explique|conseille|parle|affirme|assure)(?: que| de| d')?\s*",
    re.IGNORECASE,
)


def strip_reported(text: str) -> str:
    """'le conseiller général m'a dit que la région aide pour le permis' → 'la région aide pour le permis'.

    Who said it is not part of the question (and its words would mislead retrieval).
    """
    m = _REPORTED.match(text)
    rest = text[m.end():].strip() if m else ""
    return rest if len(rest.split()) >= 3 else text
