"""Pure logic of the back-office tools: spoken numbers, detection, read-back, answers, strict payloads,
the OpenAPI operation and its tool schema, the circuit breaker, the redaction of dossier numbers."""

from __future__ import annotations

import datetime as dt

import pytest

from voicebot.backoffice import spoken
from voicebot.backoffice.breaker import CircuitBreaker
from voicebot.backoffice.flow import DossierStatusFlow, status_sentences
from voicebot.backoffice.models import BackofficeConfigError, BackofficeMalformed, DossierStatus, mask_number
from voicebot.backoffice.openapi import find_operation
from voicebot.backoffice.settings import BackofficeSettings
from voicebot.french.numbers import number_runs
from voicebot.french.redaction import redact
from voicebot.dialogue.flow import Flow

P = ["IDF"]


@pytest.mark.parametrize("said, number", [
    ("I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois", "IDF-2025-000123"),
    ("IDF 2025 000 123", "IDF-2025-000123"),
    ("IDF-2025-000456", "IDF-2025-000456"),
    ("I.D.F. 2025-000123", "IDF-2025-000123"),
    ("2025000123", "IDF-2025-000123"),
    ("2025 000 123", "IDF-2025-000123"),
    ("i dé effe deux mille vingt-cinq zéro zéro zéro quatre cent cinquante-six", "IDF-2025-000456"),
    ("euh c'est le IDF 2025 000123 je crois", "IDF-2025-000123"),
    ("deux mille vingt-quatre zéro zéro zéro sept cent quatre-vingt-neuf", "IDF-2024-000789"),
    ("deux mille vingt-cinq zéro zéro un zéro un zéro", "IDF-2025-001010"),
    ("vingt vingt-cinq zéro zéro zéro cent vingt-trois", "IDF-2025-000123"),
])
def test_dossier_numbers_as_said(said, number):
    assert spoken.parse_dossier_number(said, P) == number


@pytest.mark.parametrize("said", [
    "mon dossier", "IDF 2025 123", "deux mille vingt-cinq", "2025 000 123 4", "1234567890",
    "je ne sais plus", "",
])
def test_incomplete_or_wrong_numbers_are_refused(said):
    assert spoken.parse_dossier_number(said, P) is None


@pytest.mark.parametrize("said, postcode", [
    ("quatre-vingt-treize deux cents", "93200"), ("93 200", "93200"), ("9 3 2 0 0", "93200"),
    ("soixante-quinze zéro onze", "75011"), ("quatre-vingt-treize mille deux cents", "93200"),
    ("c'est le 75011", "75011"), ("soixante-quinze mille onze", "75011"),
])
def test_postcodes_as_said(said, postcode):
    assert spoken.parse_postcode(said) == postcode


@pytest.mark.parametrize("said", ["quatre-vingt-treize", "932", "750111", "Paris", ""])
def test_bad_postcodes(said):
    assert spoken.parse_postcode(said) is None


def test_read_back_is_spelled_for_the_ear():
    ear = spoken.number_for_ear("IDF-2025-000123")
    assert ear == "I, D, F, deux mille vingt-cinq, zéro zéro zéro un deux trois"
    assert not any(ch.isdigit() for ch in ear)


@pytest.mark.parametrize("said, expected", [
    ("oui", True), ("oui c'est ça", True), ("c'est bien ça", True), ("exactement", True), ("tout à fait", True),
    ("non", False), ("non c'est pas ça", False), ("c'est pas le bon", False), ("euh", None), ("", None),
])
def test_yes_no(said, expected):
    assert spoken.yes_no(said) is expected


def test_dates_and_amounts_for_ear_and_eye():
    d = dt.date(2025, 10, 14)
    assert spoken.date_words(d) == "le quatorze octobre deux mille vingt-cinq"
    assert spoken.date_words(dt.date(2025, 11, 1)) == "le premier novembre deux mille vingt-cinq"
    assert spoken.date_text(d) == "le 14 octobre 2025"
    assert spoken.euros_words(1500) == "mille cinq cents euros"
    assert spoken.euros_text(1500) == "1\u202f500 €"


FLOW = DossierStatusFlow(lookup=None, settings=BackofficeSettings(base_url="http://x"))


@pytest.mark.parametrize("text", [
    "Où en est mon dossier ?", "ou en est ma demande d'aide au permis", "je voudrais connaître l'état de mon dossier",
    "je voudrais savoir où en est mon dossier", "Mon dossier a-t-il été traité ?",
    "je n'ai toujours rien reçu pour ma demande de chèque numérique", "quel est le statut de ma demande",
    "j'appelle pour le suivi de mon dossier", "mon dossier IDF 2025 000123", "est-ce que ma subvention a été versée",
    "où en est mon dossier de bourse", "ma demande est-elle acceptée ?",
    # as the embedded Whisper wrote a synthetic caller's "où en est mon dossier" (tests/e2e/test_backoffice_call.py)
    "Bonjour, je voudrais savoir où un aima dossier. S'il vous plaît.", "où on est le dossier",
    "Bonjour, je voudrais savoir ou un aimer d'ocier. S'il vous plaît.",  # the CI proof of 2026-12-02, session 4
])
def test_detects_status_requests(text):
    assert FLOW.detects(text)


@pytest.mark.parametrize("text", [
    "comment constituer un dossier pour l'aide au permis", "quels documents faut-il fournir pour le dossier",
    "combien coûte la carte imagine R", "je veux déposer une demande de bourse",
    "quelles sont les conditions du chèque numérique", "bonjour", "je voudrais parler à un conseiller",
    "le dossier de presse de la Région", "quel est le montant de l'aide au permis",
    "où envoyer mon dossier", "où déposer le dossier de bourse", "où faire la demande pour le dossier",
    "ou trouver le formulaire du dossier", "je ne sais pas où mettre mon dossier",
])
def test_does_not_detect_other_questions(text):
    assert not FLOW.detects(text)


def test_flow_implements_the_dialogue_protocol():
    assert isinstance(FLOW, Flow)
    assert FLOW.name == "dossier_status"


def _status(**kw) -> DossierStatus:
    base = dict(number="IDF-2025-000123", scheme="aide au permis de conduire", status="en cours d'instruction",
                last_step_date=dt.date(2025, 11, 3), missing_documents=("justificatif de domicile",))
    return DossierStatus(**{**base, **kw})


def test_status_answer_has_status_date_missing_document_and_how_to_send():
    speech, text = status_sentences(_status(), "depuis votre espace personnel")
    assert text == ("Votre dossier aide au permis de conduire est en cours d'instruction depuis le 3 novembre 2025. "
                    "Pièce manquante : justificatif de domicile, à envoyer depuis votre espace personnel.")
    assert "le trois novembre deux mille vingt-cinq" in speech
    assert speech.count(".") == 2


def test_paid_answer_says_amount_and_date():
    speech, text = status_sentences(_status(number="IDF-2025-000456", scheme="chèque numérique", status="payé",
                                            missing_documents=(), amount_paid=1500.0,
                                            paid_on=dt.date(2025, 10, 14)), "x")
    assert text == "Votre dossier chèque numérique est payé : 1\u202f500 € versés le 14 octobre 2025."
    assert "mille cinq cents euros versés le quatorze octobre deux mille vingt-cinq" in speech


GOOD = {"number": "IDF-2025-000123", "scheme": "aide au permis de conduire", "status": "en cours d'instruction",
        "last_step_date": "2025-11-03", "missing_documents": ["justificatif de domicile"], "amount_paid": None,
        "paid_on": None}


def test_wire_payload_accepted():
    s = DossierStatus.from_wire(GOOD, "IDF-2025-000123")
    assert s.last_step_date == dt.date(2025, 11, 3) and s.missing_documents == ("justificatif de domicile",)


@pytest.mark.parametrize("change", [
    {"last_step_date": "la semaine dernière"}, {"missing_documents": "voir courrier"}, {"status": 3},
    {"number": "IDF-2025-999999"}, {"scheme": ""}, {"status": "payé\x07"}, {"scheme": "x" * 500},
    {"amount_paid": "1500"}, {"amount_paid": 1500.0}, {"amount_paid": -1.0, "paid_on": "2025-10-14"},
    {"status": "<script>"}, {"missing_documents": ["a"] * 11}, {"amount_paid": True, "paid_on": "2025-10-14"},
])
def test_wire_payload_refused(change):
    body = {**GOOD, **change}
    with pytest.raises(BackofficeMalformed):
        DossierStatus.from_wire(body, "IDF-2025-000123")
    with pytest.raises(BackofficeMalformed):
        DossierStatus.from_wire([body], "IDF-2025-000123")


SPEC = {
    "openapi": "3.1.0",
    "paths": {"/v1/dossiers/{number}/status": {"get": {
        "operationId": "getDossierStatus", "summary": "Statut",
        "parameters": [{"name": "number", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Z]{2,4}-\\d{4}-\\d{6}$"}},
                       {"$ref": "#/components/parameters/Postcode"}],
        "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S"}}}}}}}},
    "components": {"parameters": {"Postcode": {"name": "X-Verification-Postcode", "in": "header", "required": True,
                                               "schema": {"type": "string", "pattern": "^\\d{5}$"}}},
                   "schemas": {"S": {"type": "object"}}},
}


def test_operation_and_tool_schema_come_from_the_description():
    op = find_operation(SPEC, "getDossierStatus")
    assert (op.method, op.path, op.idempotent) == ("get", "/v1/dossiers/{number}/status", True)
    assert [p.argument for p in op.parameters] == ["number", "verification_postcode"]
    tool = op.tool_schema()
    assert tool["function"]["name"] == "getDossierStatus"
    assert tool["function"]["parameters"]["required"] == ["number", "verification_postcode"]
    assert "^\\d{5}$" in tool["function"]["parameters"]["properties"]["verification_postcode"]["description"]
    with pytest.raises(ValueError):
        op.parameters[0].check("../../admin")
    with pytest.raises(ValueError):
        op.parameters[1].check("93200\r\nX-Evil: 1")


@pytest.mark.parametrize("spec", [
    {}, {"openapi": "2.0", "paths": {}}, {"openapi": "3.0.0", "paths": {}},
    {"openapi": "3.0.0", "paths": {"/a/{x}": {"get": {"operationId": "getDossierStatus"}}}},
    {"openapi": "3.0.0", "paths": {"/a": {"get": {"operationId": "getDossierStatus",
                                                   "parameters": [{"$ref": "http://evil/p.json"}]}}}},
])
def test_unusable_descriptions_are_refused(spec):
    with pytest.raises(BackofficeConfigError):
        find_operation(spec, "getDossierStatus")


def test_breaker_opens_fails_fast_then_allows_one_trial():
    now = [0.0]
    b = CircuitBreaker(failures=3, reset_s=10, clock=lambda: now[0])
    for _ in range(3):
        assert b.allow()
        b.failure()
    assert b.state == "open" and not b.allow()
    now[0] = 10.0
    assert b.allow() and not b.allow()  # half-open: one trial at a time
    b.failure()
    assert b.state == "open"
    now[0] = 20.0
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow()


@pytest.mark.parametrize("text", [
    "mon dossier c'est IDF-2025-000123", "le IDF 2025 000 123 svp", "numéro IDF2025000123",
    "dossier I D F 2025 000123",
])
def test_dossier_numbers_are_redacted(text):
    out = redact(text)
    assert "000123" not in out and "000 123" not in out and "[DOSSIER]" in out


def test_number_runs_locate_each_number_said():
    text = "euh I D F deux mille vingt-cinq, zéro zéro zéro cent vingt-trois et le code quatre-vingt-treize"
    runs = number_runs(text)
    assert [r.groups for r in runs] == [(("2025", True), ("0", True), ("0", True), ("0", True), ("123", True)),
                                        (("93", True),)]
    assert text[runs[0].start:runs[0].end] == "deux mille vingt-cinq, zéro zéro zéro cent vingt-trois"
    assert runs[0].digits == "2025000123" and runs[0].in_words
    mixed = number_runs("idf 2025 zéro zéro zéro cent vingt et un")[0]
    assert mixed.groups[0] == ("2025", False) and mixed.digits == "2025000121"


@pytest.mark.parametrize("text, kept", [
    ("I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois", ""),
    ("idf 2025 zéro zéro zéro cent vingt trois", ""),
    ("IDF deux mille vingt-cinq 000 123 merci", " merci"),
    ("i dé effe deux mille vingt-cinq zéro zéro zéro quatre cent cinquante-six", ""),
    ("I.D.F. 2025-000-123", ""),
    ("IDF 2025, 000, 123.", "."),
    ("mon dossier c'est deux mille vingt-cinq zéro zéro zéro cent vingt-trois voilà", "mon dossier c'est  voilà"),
    ("c'est le vingt vingt-cinq zéro zéro zéro cent vingt-trois", "c'est le "),
    ("euh I D F deux mille vingt-cinq, zéro, zéro, zéro, un, deux, trois", "euh "),
    ("J'ai noté le dossier I, D, F, deux mille vingt-cinq, zéro zéro zéro un deux trois. Est-ce bien cela ?",
     "J'ai noté le dossier . Est-ce bien cela ?"),
    ("Où en est mon dossier I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois ?", "Où en est mon dossier  ?"),
])
def test_dossier_numbers_said_in_words_are_redacted(text, kept):
    out = redact(text)
    assert out.replace("[DOSSIER]", "") == kept, out
    assert out.count("[DOSSIER]") == 1


@pytest.mark.parametrize("said, _number", [
    ("I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois", "IDF-2025-000123"),
    ("i dé effe deux mille vingt-cinq zéro zéro zéro quatre cent cinquante-six", "IDF-2025-000456"),
    ("deux mille vingt-quatre zéro zéro zéro sept cent quatre-vingt-neuf", "IDF-2024-000789"),
    ("deux mille vingt-cinq zéro zéro un zéro un zéro", "IDF-2025-001010"),
    ("vingt vingt-cinq zéro zéro zéro cent vingt-trois", "IDF-2025-000123"),
    ("deux mille vingt-cinq cent vingt-trois quatre cent cinquante-six", "IDF-2025-123456"),
])
def test_what_the_flow_parses_as_a_number_is_what_redaction_masks(said, _number):
    assert spoken.parse_dossier_number(said, P) == _number
    assert redact(said) == "[DOSSIER]"


@pytest.mark.parametrize("text", [
    "en deux mille vingt-cinq j'ai reçu mille cinq cents euros le quatorze octobre",
    "en deux mille vingt-cinq, trois cent mille habitants",
    "le quatorze octobre deux mille vingt-cinq, mille cinq cents euros versés",
    "le dossier de deux mille vingt-cinq, cent vingt-trois euros",
    "il y a deux mille vingt-cinq personnes, dont cent vingt-trois à Paris",
    "il y a deux mille vingt-cinq cent vingt-trois personnes",
    "de deux mille vingt à deux mille vingt-cinq",
    "IDF deux mille vingt-cinq",
    "quatre-vingt-treize deux cents",
    "Votre dossier aide au permis de conduire est en cours d'instruction depuis le 3 novembre 2025.",
])
def test_years_amounts_and_postcodes_in_words_are_not_taken_for_dossier_numbers(text):
    assert redact(text) == text


def test_a_time_stamp_after_a_capital_word_is_no_dossier_number():
    assert "[DOSSIER]" not in redact("UTC 2025-12-02 01:28:40 appel terminé")  # long digit runs: [NUMÉRO] rule


def test_redaction_keeps_typographic_apostrophes():
    text = "Pièce manquante : justificatif de domicile, à envoyer sur l’espace usager."
    assert redact(text) == text
    assert redact("l’IDF deux mille vingt-cinq zéro zéro zéro cent vingt-trois") == "l’[DOSSIER]"


def test_mask_number():
    assert mask_number("IDF-2025-000123") == "IDF-2025-••••23"
    assert mask_number("n'importe quoi") == "[DOSSIER]"
