import json

import httpx

from voicebot.calls.handoff import LlmSummariser, build_handoff, summarise_card

CALL = {"id": "c1", "caller": "06 •••••• 78", "started_at": 1000.0}
TURNS = [
    {"turn": 0, "caller_text": "Bonjour", "bot_text": "Bonjour, que puis-je pour vous ?", "sources": [],
     "guard": "ok", "ended_at": 1005.0},
    {"turn": 1, "caller_text": "Combien coûte le passe Navigo pour un lycéen, mon numéro est 06 12 34 56 78",
     "bot_text": "Le forfait Imagine R scolaire coûte 24,40 euros par mois. Il est valable toute l'année.",
     "sources": [{"title": "Tarifs Imagine R"}], "guard": "ok", "ended_at": 1020.0},
    {"turn": 2, "caller_text": "Et est-ce que la région rembourse une partie du forfait ?",
     "bot_text": "Je n'ai pas trouvé cette information.", "sources": [], "guard": "no_answer", "ended_at": 1040.0},
    {"turn": 3, "caller_text": "Je veux parler à un conseiller", "bot_text": "Je vous transfère.", "sources": [],
     "guard": "ok", "ended_at": 1050.0},
]


def test_card_from_turns():
    card = build_handoff(CALL, TURNS, reason="caller_request", queue="transport", now=1100.0)
    assert card.reason_label == "L'appelant a demandé un conseiller"
    assert "passe Navigo pour un lycéen" in card.need and card.need.startswith("L'appelant veut savoir")
    assert card.facts == [{"turn": 1, "text": "Le forfait Imagine R scolaire coûte 24,40 euros par mois.",
                           "sources": ["Tarifs Imagine R"]}]
    assert card.open_questions == ["Et est-ce que la région rembourse une partie du forfait ?"]
    assert "Appel de 1 min, 4 échanges" in card.summary and "Imagine R" in card.summary
    assert "rembourse" in card.summary and card.summary_source == "extractive"
    assert [x["speaker"] for x in card.transcript] == ["appelant", "bot"] * 4
    text = json.dumps(card.to_dict(), ensure_ascii=False)
    assert "06 12 34 56 78" not in text and "[TÉLÉPHONE]" in text


def test_card_of_a_silent_call():
    card = build_handoff(CALL, [], reason="dtmf", now=1001.0)
    assert card.need == "L'appelant n'a pas exprimé de demande avant le transfert."
    assert card.transcript == [] and card.facts == [] and "moins d'une minute" in card.summary


def test_no_answer_keeps_last_question_open():
    card = build_handoff(CALL, TURNS[:2] + [{"turn": 2, "caller_text": "Quand ouvre le guichet de Saint-Denis ?",
                                              "bot_text": "", "sources": [], "guard": "", "ended_at": 1030.0}],
                         reason="no_answer")
    assert card.open_questions == ["Quand ouvre le guichet de Saint-Denis ?"]


async def test_llm_summary_is_used_and_redacted():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json={"choices": [{"message": {"content": "L'appelant (06 12 34 56 78) veut un tarif."}}]})

    card = build_handoff(CALL, TURNS, reason="caller_request")
    s = LlmSummariser("http://llm.local/v1", "smollm2", transport=httpx.MockTransport(handler))
    await summarise_card(card, s)
    assert seen["url"] == "http://llm.local/v1/chat/completions" and seen["body"]["model"] == "smollm2"
    assert "06 12 34 56 78" not in json.dumps(seen["body"], ensure_ascii=False)  # only redacted text leaves
    assert card.summary_source == "llm" and card.summary == "L'appelant ([TÉLÉPHONE]) veut un tarif."


async def test_llm_failure_keeps_extractive_summary():
    card = build_handoff(CALL, TURNS, reason="caller_request")
    before = card.summary
    s = LlmSummariser("http://llm.local/v1", transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    await summarise_card(card, s)
    assert card.summary == before and card.summary_source == "extractive"
