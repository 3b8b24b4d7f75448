"""Plain French for the monitor's internal values, and how a turn's outcome is classified."""

import pytest

from voicebot.calls.outcomes import (after_clarification, answer_path, asks_clarification, first_scheme, gap_kind,
                                     voice_to_voice_ms)
from voicebot.monitor.labels import STATE_FR, event_text, guard_label, latency_steps, latency_text


@pytest.mark.parametrize("guard, path", [
    ("passed/llm", "llm"), ("skipped/llm", "extractive"), ("unavailable/extractive", "extractive"),
    ("rejected/extractive", "guard_rejected"), ("rejected/no_answer", "no_answer"), ("skipped/no_answer", "no_answer"),
    ("llm_error", "error"), ("", "other"), ("ok", "llm"), ("no_answer", "no_answer"), ("???", "other"),
])
def test_answer_path(guard, path):
    assert answer_path(guard) == path


def test_gap_kind():
    assert gap_kind("no_answer", "Quels sont les horaires de la piscine ?") == "no_answer"
    assert gap_kind("guard_rejected", "Combien coûte le forfait ?") == "guard_rejected"
    assert gap_kind("other", "Quel est le montant de l'aide ?") is None  # not from the bot's wording any more
    assert gap_kind("llm", "Combien coûte le forfait ?") is None
    assert gap_kind("no_answer", "oui") is None  # too short to be a question


def test_clarification_is_the_dialogue_action_and_its_outcome_the_next_turn():
    assert asks_clarification("clarify", "dialogue/question")
    assert not asks_clarification("clarify", "dialogue/flow:dossier")  # a procedure's step, not documentation
    assert not asks_clarification("answer", "dialogue/question") and not asks_clarification("", "")
    assert after_clarification("llm", "answer", "passed/llm") == "resolved"
    assert after_clarification("extractive", "answer", "skipped/llm") == "resolved"
    assert after_clarification("no_answer", "answer", "skipped/no_answer") == "failed"
    assert after_clarification("other", "clarify", "dialogue/question") == "failed"  # asked again
    assert after_clarification("other", "transfer", "dialogue/transfer") == "failed"
    assert after_clarification("error", "answer", "llm_error") == "failed"
    assert after_clarification("other", "answer", "dialogue/repeat") == "pending"
    assert after_clarification("other", "answer", "dialogue/empty") == "pending"


def test_scheme_and_latency_fields():
    assert first_scheme([{"chunk": "x"}, {"title": "Navigo", "scheme": "navigo"}]) == "navigo"
    assert first_scheme([]) == "" and first_scheme(["texte"]) == ""
    assert voice_to_voice_ms({"stt_final": 300, "bot_audio_first": 1234.5}) == 1234.5
    assert voice_to_voice_ms({"stt_final": 300}) is None


def test_guard_and_state_labels_are_plain_french():
    assert guard_label("skipped/no_answer") == "Pas de réponse trouvée"
    assert guard_label("passed/llm") == "Réponse rédigée et vérifiée"
    assert guard_label("rejected/extractive") == "Réponse bloquée par la vérification"
    assert guard_label("") == ""
    assert STATE_FR["caller_speaking"] == "L'appelant parle"


def test_latency_breakdown():
    lat = {"turn_end": 300.0, "stt_final": 520.0, "llm_first_token": 800.0, "tts_first_audio": 1100.0,
           "bot_audio_first": 1150.0}
    steps = latency_steps(lat)
    assert [s["ms"] for s in steps] == [300, 220, 280, 300, 50]
    assert latency_text(lat) == ("Réponse entendue après 1,1 s : fin de phrase détectée 300 ms · transcription"
                                 " 220 ms · début de la réponse 280 ms · voix synthétisée 300 ms · le bot parle 50 ms")
    assert latency_text({}) == ""
    assert latency_text({"stt": 180.0}) == "Délais : stt 180 ms"


def test_event_text():
    assert event_text("transfer", {"queue": "transport", "reason": "supervisor", "status": "accepted"}) == \
        "Transfert vers la file transport (décision d'un superviseur) : accepté"
    assert event_text("dtmf", {"digit": "0"}) == "Touche 0 pressée"
    assert event_text("call_ended", {"reason": "caller_hangup"}) == "Appel terminé (raccroché par l'appelant)"
    assert event_text("silence", {"seconds": 8, "action": "hangup"}) == "Silence de 8 s : le bot raccroche"
